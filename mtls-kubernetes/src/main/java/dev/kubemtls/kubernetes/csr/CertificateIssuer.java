package dev.kubemtls.kubernetes.csr;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.CertificateFailedException;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.pki.KeyAlgorithm;
import dev.kubemtls.core.pki.Role;
import dev.kubemtls.core.rotation.IdentityIssuer;
import dev.kubemtls.core.rotation.IssuanceProgress;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.kubernetes.internal.EcKeys;
import dev.kubemtls.kubernetes.internal.IssuedCertificateValidator;
import dev.kubemtls.kubernetes.internal.Pkcs10;
import dev.kubemtls.core.names.SignerNames;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequest;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Obtains a workload certificate from the Kubernetes certificates.k8s.io/v1 API: the requesting
 * half of kube-mtls, the Java counterpart of client-go's certificate manager.
 *
 * <p>Each {@link #issue(long)} (unless it resumes a remembered request, see below) generates a fresh
 * key pair in memory, submits a PKCS#10 request as a
 * {@code CertificateSigningRequest} (named {@code kube-mtls-<serviceAccount>-} and eight random
 * characters, chosen here so that the watch on it opens while it is created; the API server
 * generates the name instead in the rare case that one is taken; the configured signerName, the
 * usages of the {@link Role}, {@code expirationSeconds}), then watches that one object until an
 * approver and a signer have acted. The watch resumes from the last seen
 * resourceVersion after a dropped connection, and re-reads the object if history has been
 * compacted, so no outcome is missed. What the signer wrote into {@code status.certificate} is
 * untrusted: it is checked against the key, the requested names and usages, the clock and, when
 * configured, the trust bundle before a {@link TlsIdentity} is returned.
 *
 * <p>What is left behind: by default the issuer deletes nothing. Kubernetes garbage-collects CSRs
 * (kube-controller-manager's CSR cleaner, every hour): an issued one an hour after its approval, a
 * denied or failed one an hour after that condition, a pending one 24 hours after it was created,
 * an approved one that was never issued 24 hours after its approval. Denied and failed requests are
 * the evidence for {@code kubectl describe csr} and are never deleted here. With
 * {@link Builder#deleteRequests(boolean) deleteRequests(true)} the issuer also deletes each request
 * it is done with: issued and validated, or abandoned (its wait timed out, the watch was refused,
 * or the calling thread was interrupted, which is how a closing manager stops it), so that
 * abandoned requests do not pile up during a signer outage.
 *
 * <p>Resuming instead of piling up: without {@code deleteRequests}, an attempt that gives up on a
 * request that is still usable (pending, or approved and not yet signed; not denied, failed,
 * deleted or replaced) does not forget it. The issuer remembers that one request (its name, UID,
 * the identity it asked for and its private key, in memory only) and the next {@code issue} call
 * watches the same CSR again instead of creating another, so a signer outage leaves one pending
 * CSR per issuer rather than one per attempt. It resumes only while the request is worth waiting
 * on: it still exists with the same UID, is neither Denied nor Failed (those are reported once, as
 * {@link CertificateDeniedException} / {@link CertificateFailedException}, and forgotten), asks for
 * the identity the issuer asks for now, and is young enough: younger than the requested lifetime
 * (the key would otherwise be older than one certificate lifetime before its certificate starts),
 * and young enough that this attempt's whole wait ends an hour before the cluster's CSR cleaner may
 * remove a pending request (24 hours after creation, by the API server's clock; the hour covers
 * clock skew and the cleaner's hourly pass). Otherwise the issuer makes a new request. With
 * {@code deleteRequests} nothing is remembered: a given-up request is deleted as before, so none
 * pile up either. The returned identity always carries the generation the completing call asked
 * for.
 *
 * <p>The workload's ServiceAccount needs {@code create}, {@code get} and {@code watch} on
 * {@code certificatesigningrequests.certificates.k8s.io} (the watch names its one object with the
 * field selector {@code metadata.name}, which the API server authorizes as a {@code watch} of that
 * name, so no {@code list}); deleting needs {@code delete}, which RBAC can only grant on every CSR
 * of the cluster (the names are generated, so {@code resourceNames} cannot pin them): grant it only
 * where that is acceptable. Approval and signing are somebody else's job (the kube-mtls signer);
 * the API server records the requester's identity, which is what the approver trusts.
 *
 * <p>An issuer is thread-safe. Its configuration is immutable; its only state is the one remembered
 * request, which exactly one call takes over at a time: a concurrent call that finds none remembered
 * makes its own request, and if two calls give up at once only one request is remembered (the other
 * is left for the cleaner).
 */
public final class CertificateIssuer implements IdentityIssuer {

  private static final Logger LOG = LoggerFactory.getLogger(CertificateIssuer.class);

  /** The shortest certificate lifetime the API server accepts. */
  public static final Duration MIN_EXPIRATION = Duration.ofSeconds(600);

  /** kube-controller-manager's CSR cleaner removes a pending request this long after its creation. */
  static final Duration CLEANER_PENDING_LIMIT = Duration.ofHours(24);

  /** How long before the cleaner's limit a resumed wait must end (clock skew, the cleaner's hourly pass). */
  static final Duration CLEANER_MARGIN = Duration.ofHours(1);

  private final KubernetesClient client;
  private final WorkloadIdentity identity;
  private final String signerName;
  private final KeyAlgorithm keyAlgorithm;
  private final Duration expiration;
  private final Duration timeout;
  private final boolean deleteRequests;
  private final Supplier<TrustBundle> trustBundle;
  private final InstantSource clock;
  private final Duration clockSkew;
  private final SecureRandom random;
  private final CsrClient csrs;

  private CertificateIssuer(Builder b) {
    this.client = b.client;
    this.identity = b.identity;
    this.signerName = b.signerName;
    this.keyAlgorithm = b.keyAlgorithm;
    this.expiration = b.expiration;
    this.timeout = b.timeout;
    this.deleteRequests = b.deleteRequests;
    this.trustBundle = b.trustBundle;
    this.clock = b.clock;
    this.clockSkew = b.clockSkew;
    this.random = b.random;
    this.csrs = b.nameSuffixes == null ? new CsrClient(client, signerName, clock, timeout, deleteRequests)
        : new CsrClient(client, signerName, clock, timeout, deleteRequests, b.nameSuffixes);
  }

  /**
   * Starts an issuer for {@code identity}, whose requests go to {@code signerName}.
   *
   * @param client a client authenticating as the workload itself (its ServiceAccount)
   */
  public static Builder builder(KubernetesClient client, WorkloadIdentity identity, String signerName) {
    return new Builder(client, identity, signerName);
  }

  public WorkloadIdentity identity() {
    return identity;
  }

  public String signerName() {
    return signerName;
  }

  /**
   * The CertificateSigningRequest this issuer would submit for {@code keyPair}, without a name
   * (the API server generates it from {@code metadata.generateName}).
   */
  public CertificateSigningRequest csrFor(KeyPair keyPair) {
    Objects.requireNonNull(keyPair, "keyPair");
    String pem = Pkcs10.toPem(Pkcs10.create(identity, keyPair, keyAlgorithm));
    String prefix = "kube-mtls-" + identity.serviceAccount() + "-";
    if (prefix.length() > 200) {
      prefix = prefix.substring(0, 199) + "-";
    }
    return new CertificateSigningRequestBuilder()
        .withNewMetadata()
          .withGenerateName(prefix)
          .addToLabels("app.kubernetes.io/managed-by", "kube-mtls")
        .endMetadata()
        .withNewSpec()
          .withRequest(Base64.getEncoder().encodeToString(pem.getBytes(StandardCharsets.US_ASCII)))
          .withSignerName(signerName)
          .withUsages(identity.usages(keyAlgorithm))
          .withExpirationSeconds(Math.toIntExact(expiration.toSeconds()))
        .endSpec()
        .build();
  }

  @Override
  public TlsIdentity issue(long generation) throws InterruptedException {
    return issue(generation, progress -> { });
  }

  /**
   * Issues as {@link #issue(long)} does, telling {@code progress} of each stage: submitting, then
   * the CSR's name waiting for approval, then approved and waiting for the signer, each with what to
   * check if it stays there. A call that resumes a remembered request reports no submission; its
   * first value names that request, is dated from the request's creation (or, once approved, from when
   * it saw the approval) and its advice begins {@code resumed CertificateSigningRequest <name>
   * (pending since <creation>)}.
   */
  @Override
  public TlsIdentity issue(long generation, Consumer<IssuanceProgress> progress) throws InterruptedException {
    if (generation < 1) {
      throw new IllegalArgumentException("generation must be positive, was " + generation);
    }
    Objects.requireNonNull(progress, "progress");
    Instant deadline = clock.instant().plus(timeout);
    CsrClient.Wait wait = resume(csrs.takeRemembered(), deadline, progress);
    KeyPair keyPair;
    if (wait != null) {
      keyPair = wait.request().keyPair();
    } else {
      // EC keys with BouncyCastle's base-point arithmetic (a fraction of the JDK's cost), as JDK keys.
      keyPair = EcKeys.supports(keyAlgorithm) ? EcKeys.generate(keyAlgorithm, random) : keyAlgorithm.generate(random);
      wait = csrs.submit(csrFor(keyPair), keyPair, identity, deadline, progress);
    }
    String name = wait.request().name();
    CertificateSigningRequest issued = wait.run();

    String pem = decodeCertificate(name, issued.getStatus().getCertificate());
    TrustBundle trust = trustBundle == null ? null : Objects.requireNonNull(trustBundle.get(),
        "the trust bundle supplier returned null");
    List<X509Certificate> chain = new IssuedCertificateValidator(identity, keyPair.getPublic(), trust, clockSkew)
        .validate(name, pem, clock.instant());
    X509Certificate leaf = chain.get(0);
    LOG.info("CertificateSigningRequest {} issued: subject '{}', serial {}, notAfter {}", name,
        leaf.getSubjectX500Principal().getName(), leaf.getSerialNumber().toString(16),
        leaf.getNotAfter().toInstant());
    csrs.done(name);
    return new TlsIdentity(keyPair.getPrivate(), chain, generation);
  }

  /**
   * Takes over the remembered request if it is still worth waiting on: the same identity as asked
   * for now, young enough ({@link #staleReason}), still there with the same UID. Returns the wait on
   * it, or null to make a new request.
   */
  private CsrClient.Wait resume(CsrClient.PendingRequest pending, Instant deadline,
      Consumer<IssuanceProgress> progress) throws InterruptedException {
    if (pending == null) {
      return null;
    }
    String why = !pending.identity().equals(identity) ? "it asked for another identity than this issuer asks for now"
        : tooOld(pending.created());
    if (why != null) {
      csrs.forget(pending, why);
      return null;
    }
    return csrs.resume(pending, deadline, progress);
  }

  private String tooOld(Instant created) {
    return staleReason(created, clock.instant(), expiration, timeout);
  }

  /**
   * Why a request created at {@code created} is no longer worth a wait of {@code timeout} starting
   * at {@code now}, or null if it still is: it must be younger than the requested lifetime, and the
   * wait must end {@link #CLEANER_MARGIN} before the CSR cleaner may remove it.
   */
  static String staleReason(Instant created, Instant now, Duration expiration, Duration timeout) {
    if (created == null) {
      return "its creation time is unknown";
    }
    if (!now.isBefore(created.plus(expiration))) {
      return "it is older than the requested lifetime " + expiration;
    }
    if (!now.plus(timeout).isBefore(created.plus(CLEANER_PENDING_LIMIT).minus(CLEANER_MARGIN))) {
      return "the cluster's CSR cleaner may remove it (24 hours after creation) before this wait would end";
    }
    return null;
  }

  private static String decodeCertificate(String name, String base64) {
    try {
      return new String(Base64.getDecoder().decode(base64), StandardCharsets.US_ASCII);
    } catch (IllegalArgumentException e) {
      throw new CertificateFailedException(name, IssuedCertificateValidator.REASON,
          "status.certificate is not base64-encoded", e);
    }
  }

  @Override
  public String toString() {
    return "CertificateIssuer[" + identity.spiffeId() + ", signer=" + signerName + ", key=" + keyAlgorithm
        + ", expiration=" + expiration + "]";
  }

  /**
   * Configures a {@link CertificateIssuer}. Defaults: {@link KeyAlgorithm#EC_P256}, a 24-hour
   * expiration, a 5-minute timeout, no deletion of requests, no chain verification, the system clock,
   * 2 minutes of allowed clock skew, and no {@code kubernetes.io} signers.
   */
  public static final class Builder {
    private final KubernetesClient client;
    private final WorkloadIdentity identity;
    private final String signerName;
    private KeyAlgorithm keyAlgorithm = KeyAlgorithm.EC_P256;
    private Duration expiration = Duration.ofHours(24);
    private Duration timeout = Duration.ofMinutes(5);
    private boolean deleteRequests;
    private Supplier<TrustBundle> trustBundle;
    private InstantSource clock = InstantSource.system();
    private Duration clockSkew = Duration.ofMinutes(2);
    private boolean allowKubernetesIoSigner;
    private SecureRandom random;
    private Supplier<String> nameSuffixes;

    private Builder(KubernetesClient client, WorkloadIdentity identity, String signerName) {
      this.client = Objects.requireNonNull(client, "client");
      this.identity = Objects.requireNonNull(identity, "identity");
      this.signerName = Objects.requireNonNull(signerName, "signerName");
    }

    public Builder keyAlgorithm(KeyAlgorithm keyAlgorithm) {
      this.keyAlgorithm = Objects.requireNonNull(keyAlgorithm, "keyAlgorithm");
      return this;
    }

    /** The certificate lifetime requested ({@code spec.expirationSeconds}); at least 10 minutes. */
    public Builder expiration(Duration expiration) {
      this.expiration = Objects.requireNonNull(expiration, "expiration");
      return this;
    }

    /** How long one {@link #build() issuer}'s {@code issue} waits for approval and signature together. */
    public Builder timeout(Duration timeout) {
      this.timeout = Objects.requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * Whether to delete each CSR this issuer is done with: once its certificate has been validated,
     * and when it gives the request up (timed out, watch refused, interrupted). Off by default: the
     * cluster's CSR cleaner removes requests by itself (issued ones an hour after approval, pending
     * ones after 24 hours). Turning it on needs {@code delete} on CertificateSigningRequests, which
     * RBAC grants cluster-wide only (the ClusterRole {@code kube-mtls-workload-csr-cleanup} of the
     * shipped workload RBAC): the workload could then delete any CSR, also other workloads' requests
     * and the denied ones kept as evidence. Denied and failed requests are never deleted here.
     * With it off, an attempt that gives up on a still usable request remembers it and the next
     * attempt resumes it (see the class documentation), so a signer outage leaves one pending request
     * per issuer, not one per attempt.
     */
    public Builder deleteRequests(boolean deleteRequests) {
      this.deleteRequests = deleteRequests;
      return this;
    }

    /**
     * The CAs an issued chain must verify to, read at each issuance (so a rotating bundle is
     * honoured). Without it, the chain is not verified here and the TLS peers' verification is the
     * only check of the issuer.
     */
    public Builder trustBundle(Supplier<TrustBundle> trustBundle) {
      this.trustBundle = Objects.requireNonNull(trustBundle, "trustBundle");
      return this;
    }

    /** The clock for deadlines and certificate validity checks. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** How far an issued certificate's notBefore may lie in our future (signer clock ahead of ours). */
    public Builder clockSkew(Duration clockSkew) {
      this.clockSkew = Objects.requireNonNull(clockSkew, "clockSkew");
      return this;
    }

    /**
     * Allows signers in the reserved {@code kubernetes.io} domain, such as
     * {@code kubernetes.io/kube-apiserver-client}. Off by default: those signers are run by
     * kube-controller-manager for cluster components, not for workload mTLS.
     */
    public Builder allowKubernetesIoSigner(boolean allow) {
      this.allowKubernetesIoSigner = allow;
      return this;
    }

    /** Where the random part of request names comes from (tests only; random by default). */
    Builder nameSuffixes(Supplier<String> nameSuffixes) {
      this.nameSuffixes = Objects.requireNonNull(nameSuffixes, "nameSuffixes");
      return this;
    }

    /** The randomness for key generation; a new {@link SecureRandom} by default. */
    public Builder random(SecureRandom random) {
      this.random = Objects.requireNonNull(random, "random");
      return this;
    }

    /**
     * Validates the configuration and builds the issuer. Nothing is sent to the API server yet.
     *
     * @throws IllegalArgumentException naming the invalid field
     */
    public CertificateIssuer build() {
      if (!allowKubernetesIoSigner && SignerNames.isKubernetesIo(signerName)) {
        throw new IllegalArgumentException("signerName '" + signerName + "' is in the reserved kubernetes.io domain,"
            + " served by kube-controller-manager; use your own signer (e.g. the kube-mtls signer's name) or opt in"
            + " explicitly with allowKubernetesIoSigner(true)");
      }
      SignerNames.require(signerName, true);
      if (expiration.compareTo(MIN_EXPIRATION) < 0) {
        throw new IllegalArgumentException("expiration " + expiration + " is shorter than the "
            + MIN_EXPIRATION.toSeconds() + " seconds (expirationSeconds) the API server accepts");
      }
      if (expiration.toSeconds() > Integer.MAX_VALUE || expiration.getNano() != 0) {
        throw new IllegalArgumentException("expiration " + expiration
            + " must be a whole number of seconds that fits expirationSeconds (an int32)");
      }
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("timeout must be positive, was " + timeout);
      }
      if (clockSkew.isNegative()) {
        throw new IllegalArgumentException("clockSkew must not be negative, was " + clockSkew);
      }
      if (random == null) {
        random = new SecureRandom();
      }
      return new CertificateIssuer(this);
    }
  }
}
