package dev.kubemtls.signer.internal;

import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.kubernetes.internal.Pkcs10;
import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.WatchEvent;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.VersionInfo;
import io.fabric8.kubernetes.client.http.HttpClient;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.HttpResponse;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the signer's per-CSR work on made-up requests before it stands for election, so that the JIT
 * has compiled that work before the first real burst (issue 28, item 3; figures in the benchmarks
 * README). Two parts:
 *
 * <ul>
 *   <li>in the process: decoding a CSR watch event as fabric8's watch does, reading the request,
 *       the approval policy's verdict against a made-up Pod and Service, the JSON of both writes,
 *       signing with a throwaway CA and reading a write's answer. The throwaway CA, its keys and
 *       certificates never leave the process and are dropped when the warm-up ends;</li>
 *   <li>the transport: {@code GET /version} as many times, {@value #CONCURRENCY} at a time, over the
 *       signer's own client (its HTTP/2 connection, TLS and JSON decoding). {@code /version} is a
 *       non-resource URL that every authenticated client may read and that the API server answers
 *       without storage; nothing is written.</li>
 * </ul>
 *
 * <p>Why it pays: the Deployment's JVM compiles with C1 alone, which compiles a method after about
 * 200 calls; until then it runs interpreted at several times the cost, and the compiler's own work
 * lands on the first burst. A replica pays this once when it starts, not in the burst it serves
 * after a leader change. The watch's own path (WebSocket frames, fabric8's informer) is not rehearsed:
 * only real CSR events exercise it.
 */
public final class WarmUp {

  private static final Logger LOG = LoggerFactory.getLogger(WarmUp.class);

  /** The system property with the number of made-up requests ({@value #DEFAULT_REQUESTS}; 0 switches it off). */
  public static final String PROPERTY = "kube-mtls.signer.warm-up";
  /** Enough for C1 to compile the per-CSR path (its threshold is about 200 calls of a method). */
  public static final int DEFAULT_REQUESTS = 300;
  /** The most a configuration may ask for. */
  public static final int MAX_REQUESTS = 10_000;

  private static final String NAMESPACE = "kube-mtls-warm-up";
  private static final String ACCOUNT = "warm-up";
  private static final int KEYS = 8;

  /** Concurrent {@code GET /version} requests of the transport part. */
  static final int CONCURRENCY = 8;
  private static final long ANSWER_SECONDS = 10;

  /**
   * What a warm-up did: made-up requests approved and signed, {@code /version} answers read (of as
   * many asked), its wall time (and that of the in-process part), and the process's CPU meanwhile
   * (when the JVM reports it, else zero).
   */
  public record Result(int requests, int answers, Duration wall, Duration inProcess, Duration cpu) {}

  private WarmUp() {}

  /**
   * The number of made-up requests the system property {@value #PROPERTY} asks for.
   *
   * @throws IllegalArgumentException if it is not a whole number from 0 to {@value #MAX_REQUESTS}
   */
  public static int requests(String value) {
    if (value == null || value.isBlank()) {
      return DEFAULT_REQUESTS;
    }
    int n;
    try {
      n = Integer.parseInt(value.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(PROPERTY + " must be a whole number of requests (0 switches the warm-up"
          + " off), was '" + Bounded.clip(value, Bounded.ITEM_CHARS) + "'");
    }
    if (n < 0 || n > MAX_REQUESTS) {
      throw new IllegalArgumentException(PROPERTY + " must be between 0 and " + MAX_REQUESTS + ", was " + n);
    }
    return n;
  }

  /**
   * Runs {@code requests} made-up requests through the controller's per-CSR work under {@code config}'s
   * policy. Every one must be approved and signed: a made-up request that is not means the warm-up no
   * longer follows the controller, and it fails loudly rather than warm the wrong path.
   *
   * @throws IllegalStateException if a made-up request is denied or not signed
   */
  public static Result run(SignerConfig config, KubernetesClient client, int requests) {
    Objects.requireNonNull(config, "config");
    Objects.requireNonNull(client, "client");
    if (requests < 0 || requests > MAX_REQUESTS) {
      throw new IllegalArgumentException("requests must be between 0 and " + MAX_REQUESTS + ", was " + requests);
    }
    long wall0 = System.nanoTime();
    long cpu0 = processCpu();
    int answers = 0;
    long inProcess = 0;
    if (requests > 0) {
      rehearse(config, client.getKubernetesSerialization(), requests);
      inProcess = System.nanoTime() - wall0;
      answers = askVersion(client, requests);
    }
    return new Result(requests, answers, Duration.ofNanos(System.nanoTime() - wall0), Duration.ofNanos(inProcess),
        Duration.ofNanos(Math.max(0, processCpu() - cpu0)));
  }

  /**
   * Runs {@link #run} and logs what it did. A failure of the in-process part is logged and the signer
   * starts without the rest: the warm-up only saves CPU, it must never stop a signer.
   */
  public static void runLogged(SignerConfig config, KubernetesClient client, int requests) {
    if (requests == 0) {
      LOG.info("warm-up switched off ({}=0)", PROPERTY);
      return;
    }
    try {
      Result r = run(config, client, requests);
      LOG.info("warm-up: {} made-up requests approved and signed, {} of {} GET /version answered, in {} ms ({} ms in"
          + " the process; {} ms of CPU), before standing for election", r.requests(), r.answers(), r.requests(),
          r.wall().toMillis(), r.inProcess().toMillis(), r.cpu().toMillis());
    } catch (RuntimeException e) {
      LOG.warn("warm-up failed; the signer starts without it: {}", e.toString());
    }
  }

  /**
   * The in-process part: {@code requests} made-up requests decoded, judged, signed and written as JSON.
   * Returns how many were signed (all of them, or it throws).
   */
  static int rehearse(SignerConfig config, KubernetesSerialization serialization, int requests) {
    SecureRandom random = new SecureRandom();
    InstantSource clock = InstantSource.system();
    CertificateAuthority ca = CertificateAuthority.generate("kube-mtls warm-up (never published)", Duration.ofHours(2),
        ValidityPolicy.of(config), clock, random);
    ApprovalPolicy policy = ApprovalPolicy.forConfig(config);
    String podUid = UUID.randomUUID().toString();
    Map<String, String> labels = Map.of("app", ACCOUNT);
    ClusterView cluster = new ClusterView() {
      @Override
      public Optional<PodInfo> pod(String namespace, String name) {
        return Optional.of(new PodInfo(name, podUid, ACCOUNT, labels, List.of("10.0.0.7"), false));
      }

      @Override
      public List<ServiceInfo> services(String namespace) {
        return List.of(new ServiceInfo(ACCOUNT, labels));
      }
    };
    WorkloadIdentity.Builder names = WorkloadIdentity.builder(NAMESPACE, ACCOUNT).podName(ACCOUNT + "-0")
        .clusterDomain(config.clusterDomain()).trustDomain(config.trustDomain());
    // The SPIFFE ID, the Service's names and the Pod's IP (five names), or the SPIFFE ID alone where the
    // configuration allows fewer: the made-up request must be one the policy approves.
    WorkloadIdentity identity = config.maxNames() >= 5
        ? names.podIp("10.0.0.7").services(List.of(ACCOUNT)).build() : names.build();
    List<String> events = new ArrayList<>();
    for (int k = 0; k < KEYS; k++) {
      byte[] der = Pkcs10.create(identity, KeyAlgorithm.EC_P256.generate(random), KeyAlgorithm.EC_P256);
      events.add(watchEvent(config.signerName(), k, Base64.getEncoder().encodeToString(
          Pkcs10.toPem(der).getBytes(StandardCharsets.US_ASCII)), podUid));
    }
    // A write's answer as the API server sends it for CsrWrites.ANSWER.
    byte[] answer = ("{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\","
        + "\"metadata\":{\"name\":\"warm-up\",\"resourceVersion\":\"43\"}}").getBytes(StandardCharsets.UTF_8);
    int signed = 0;
    for (int i = 0; i < requests; i++) {
      WatchEvent event = serialization.unmarshal(events.get(i % KEYS), WatchEvent.class);
      Object object = event.getObject();
      // As fabric8's watch does when the event's object is not yet the watched type.
      CertificateSigningRequest csr = object instanceof CertificateSigningRequest c ? c
          : serialization.convertValue(object, CertificateSigningRequest.class);
      CertificateRequest parsed = CertificateRequest.parse(Csrs.requestPem(csr));
      List<String> usages = Csrs.usages(csr);
      ApprovalDecision decision = Lookups.decide(policy, parsed, usages, CsrController.requesterOf(csr.getSpec()),
          cluster, cluster);
      if (!decision.approved()) {
        throw new IllegalStateException("the warm-up's made-up request was denied (" + decision.reason() + ": "
            + decision.message() + "); run with -D" + PROPERTY + "=0 and report this");
      }
      List<CertificateSigningRequestCondition> conditions = new ArrayList<>();
      conditions.add(Csrs.condition(Csrs.APPROVED, decision.reason(), decision.message(), clock.instant()));
      String resourceVersion = csr.getMetadata().getResourceVersion();
      CsrWrites.body(resourceVersion, null, conditions);
      String next = CsrWrites.resourceVersionOf(answer);
      X509Certificate certificate = ca.sign(parsed, usages, csr.getSpec().getExpirationSeconds());
      String pem = Pem.encodeCertificates(List.of(certificate));
      CsrWrites.body(next, Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII)), null);
      if (!java.util.Arrays.equals(certificate.getPublicKey().getEncoded(), parsed.parsed.publicKey().getEncoded())) {
        throw new IllegalStateException("the warm-up's certificate does not hold its request's key");
      }
      signed++;
    }
    return signed;
  }

  /** A watch event as the API server sends one for a new CSR of a Pod-bound ServiceAccount token. */
  private static String watchEvent(String signerName, int k, String request, String podUid) {
    String user = "system:serviceaccount:" + NAMESPACE + ":" + ACCOUNT;
    return "{\"type\":\"ADDED\",\"object\":{\"kind\":\"CertificateSigningRequest\","
        + "\"apiVersion\":\"certificates.k8s.io/v1\","
        + "\"metadata\":{\"name\":\"warm-up-" + k + "\",\"uid\":\"" + UUID.randomUUID() + "\",\"resourceVersion\":\""
        + (100 + k) + "\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\",\"managedFields\":[{\"manager\":\"kube-mtls\","
        + "\"operation\":\"Update\",\"apiVersion\":\"certificates.k8s.io/v1\",\"time\":\"2026-01-01T00:00:00Z\","
        + "\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:spec\":{\"f:expirationSeconds\":{},\"f:request\":{},"
        + "\"f:signerName\":{},\"f:usages\":{}}}}]},"
        + "\"spec\":{\"request\":\"" + request + "\",\"signerName\":\"" + signerName + "\",\"expirationSeconds\":3600,"
        + "\"usages\":[\"digital signature\",\"server auth\",\"client auth\"],\"username\":\"" + user + "\","
        + "\"uid\":\"" + UUID.randomUUID() + "\",\"groups\":[\"system:serviceaccounts\",\"system:serviceaccounts:"
        + NAMESPACE + "\",\"system:authenticated\"],\"extra\":{\"" + Requester.POD_NAME_EXTRA + "\":[\"" + ACCOUNT
        + "-0\"],\"" + Requester.POD_UID_EXTRA + "\":[\"" + podUid + "\"]}},\"status\":{}}}";
  }

  /**
   * Reads {@code /version} {@code count} times, {@value #CONCURRENCY} at a time, each answer decoded
   * as fabric8 decodes one. Returns how many were answered; one that fails or takes longer than
   * {@value #ANSWER_SECONDS} s is counted out (an unreachable API server is the elector's to report).
   */
  static int askVersion(KubernetesClient client, int count) {
    HttpClient http = client.getHttpClient();
    KubernetesSerialization serialization = client.getKubernetesSerialization();
    String master = client.getMasterUrl().toString();
    String url = (master.endsWith("/") ? master : master + "/") + "version";
    AtomicInteger next = new AtomicInteger();
    AtomicInteger answered = new AtomicInteger();
    AtomicInteger failed = new AtomicInteger();
    Thread[] threads = new Thread[Math.min(CONCURRENCY, count)];
    for (int t = 0; t < threads.length; t++) {
      threads[t] = new Thread(() -> {
        // Stop after the first few failures: a server that does not answer would cost 10 s each.
        while (next.getAndIncrement() < count && failed.get() < CONCURRENCY) {
          try {
            HttpRequest request = http.newHttpRequestBuilder().uri(url).header("Accept", "application/json")
                .timeout(ANSWER_SECONDS, TimeUnit.SECONDS).build();
            HttpResponse<byte[]> response = http.sendAsync(request, byte[].class)
                .get(ANSWER_SECONDS + 1, TimeUnit.SECONDS);
            if (response.isSuccessful() && response.body() != null && serialization.unmarshal(
                new String(response.body(), StandardCharsets.UTF_8), VersionInfo.class) != null) {
              answered.incrementAndGet();
            } else {
              failed.incrementAndGet();
            }
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
          } catch (ExecutionException | TimeoutException | RuntimeException e) {
            failed.incrementAndGet();
          }
        }
      }, "kube-mtls-signer-warm-up-" + t);
      threads[t].setDaemon(true);
      threads[t].start();
    }
    for (Thread t : threads) {
      try {
        t.join();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    return answered.get();
  }

  private static long processCpu() {
    return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
        ? Math.max(0, os.getProcessCpuTime()) : 0L;
  }
}
