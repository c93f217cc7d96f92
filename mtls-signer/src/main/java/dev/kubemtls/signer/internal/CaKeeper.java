package dev.kubemtls.signer.internal;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.pki.Pem;
import dev.kubemtls.signer.SignerConfig;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the {@link CaRotation} plan while this replica leads: follows the CA Secret (what the
 * operator wants), keeps the plan in a state Secret ({@code <ca-secret>-rotation}, so that a
 * restarted or new leader resumes a rotation where it stood), hands the signing CA to the CSR
 * controller and the bundle to the publisher, and wakes up at each planned transition.
 *
 * <p>The plan moves only after it was stored: a leader that cannot write the state Secret keeps
 * signing with what it has and retries, rather than act on a plan a successor would not know.
 * Material in the CA Secret that fails validation is reported and ignored; the working CAs stay.
 *
 * <p>The state Secret holds certificates and times, and a private key only where there is no other
 * copy: while a new CA propagates, the CA Secret already holds the new CA, so the key of the CA
 * that still signs is kept in the state Secret until the switch (and then dropped). Keys that the CA
 * Secret holds (the signing CA in a steady state, a pending CA) are never copied. The price: if the
 * CA Secret is changed while no signer runs at all, the former key is gone, so the new CA signs at
 * once, with the former CA kept in the bundle as retiring (peers that do not trust the new CA yet
 * refuse its certificates until their bundle follows, usually seconds).
 */
public final class CaKeeper implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(CaKeeper.class);
  private static final Duration RETRY = Duration.ofSeconds(5);
  private static final String MANAGED_BY = "app.kubernetes.io/managed-by";

  private final KubernetesClient client;
  private final SignerConfig config;
  private final InstantSource clock;
  private final SecureRandom random;
  private final SignerListener listener;
  private final String stateSecretName;
  private final ScheduledExecutorService scheduler;
  private final List<Consumer<List<X509Certificate>>> bundleSinks = new ArrayList<>();
  private final Map<String, CertificateAuthority> authorities = new LinkedHashMap<>();
  private CaRotation state;
  private CertificateAuthority desired;
  private ScheduledFuture<?> next;
  private SharedIndexInformer<Secret> informer;
  private volatile CertificateAuthority signing;
  private volatile List<X509Certificate> bundle;
  private volatile List<dev.kubemtls.core.pki.BundleSignatures.Signer> bundleSigners = List.of();
  private boolean closed;
  private boolean storeAfterLoad;

  /**
   * @param initial the CA as loaded from the CA Secret when the replica started; used if the Secret
   *                cannot be read when leadership begins
   */
  public CaKeeper(KubernetesClient client, SignerConfig config, CertificateAuthority initial, InstantSource clock,
      SecureRandom random, SignerListener listener) {
    this.client = Objects.requireNonNull(client, "client");
    this.config = Objects.requireNonNull(config, "config");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.random = Objects.requireNonNull(random, "random");
    this.listener = Objects.requireNonNull(listener, "listener");
    this.stateSecretName = stateSecretName(config.caSecretName());
    this.desired = remember(Objects.requireNonNull(initial, "initial").withValidity(ValidityPolicy.of(config)));
    this.scheduler = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "kube-mtls-ca-rotation");
      t.setDaemon(true);
      return t;
    });
  }

  /** The name of the Secret that keeps the rotation state beside the CA Secret {@code caSecretName}. */
  public static String stateSecretName(String caSecretName) {
    String name = caSecretName + "-rotation";
    return name.length() <= 253 ? name : name.substring(0, 244) + "-rotation";
  }

  /** Called with the new bundle after every change (on the keeper's thread). */
  public void onBundle(Consumer<List<X509Certificate>> sink) {
    synchronized (this) {
      bundleSinks.add(Objects.requireNonNull(sink, "sink"));
    }
  }

  /**
   * Loads the stored plan, reconciles it with the CA Secret, and starts following the Secret. Blocks
   * for a few API calls; afterwards {@link #signing()} and {@link #bundle()} are set.
   */
  public void start() {
    synchronized (this) {
      readDesired().ifPresent(ca -> desired = ca);
      Optional<CaRotation> stored = loadState();
      state = stored.orElseGet(() -> CaRotation.steady(desired.keyPair()));
      if (stored.isEmpty() || storeAfterLoad) {
        // Store the plan before anything else: if the CA Secret is changed while no signer runs,
        // the next leader still knows which CA signed until then and rotates gently.
        try {
          storeState(state);
        } catch (KubernetesClientException e) {
          LOG.warn("cannot store the CA rotation state in Secret {}/{} (HTTP {}); a CA change made while no"
              + " signer runs would switch at once", config.caSecretNamespace(), stateSecretName, e.getCode());
        }
      }
      apply(state, List.of());
      reconcile();
    }
    // Not inform(): that blocks on the first list, and a signer without list/watch on its CA Secret
    // must still sign (it only cannot follow rotations), saying so.
    informer = client.secrets().inNamespace(config.caSecretNamespace()).withName(config.caSecretName())
        .runnableInformer(0);
    informer.addEventHandler(new ResourceEventHandler<>() {
      @Override
      public void onAdd(Secret secret) {
        changed(secret);
      }

      @Override
      public void onUpdate(Secret previous, Secret secret) {
        changed(secret);
      }

      @Override
      public void onDelete(Secret secret, boolean unknown) {
        LOG.warn("the CA Secret {}/{} was deleted; signing goes on with the current CAs",
            config.caSecretNamespace(), config.caSecretName());
      }
    });
    informer.start().whenComplete((ok, error) -> {
      if (error != null) {
        LOG.error("cannot follow the CA Secret {}/{} ({}); CA rotations will not be noticed until the signer"
            + " may list and watch it (see deploy/signer-rbac.yaml)", config.caSecretNamespace(),
            config.caSecretName(), error.toString());
      }
    });
  }

  /** The CA that signs now. */
  public CertificateAuthority signing() {
    return signing;
  }

  /**
   * The CA keys that sign the bundle now: the signing CA's and, during a rotation, the next CA's
   * (the keys of retiring CAs are not kept). Set before the bundle sinks are called.
   */
  public List<dev.kubemtls.core.pki.BundleSignatures.Signer> bundleSigners() {
    return bundleSigners;
  }

  /** The CAs to publish now. */
  public List<X509Certificate> bundle() {
    return bundle;
  }

  /** The current plan. */
  public synchronized CaRotation state() {
    return state;
  }

  private void changed(Secret secret) {
    Optional<CertificateAuthority> ca = parse(secret);
    synchronized (this) {
      if (closed || ca.isEmpty()) {
        return;
      }
      desired = remember(ca.get());
    }
    scheduler.execute(this::reconcileSafely);
  }

  private void reconcileSafely() {
    try {
      synchronized (this) {
        if (!closed) {
          reconcile();
        }
      }
    } catch (RuntimeException e) {
      LOG.error("CA rotation step failed; retrying in {}", RETRY, e);
      schedule(clock.instant().plus(RETRY));
    }
  }

  /** One step of the plan; the caller holds the lock. */
  private void reconcile() {
    Instant now = clock.instant();
    CaRotation.Step step = state.reconcile(desired.keyPair(), now, config.caPropagationDelay(), config.caRetention());
    if (step.changed()) {
      try {
        storeState(step.state());
      } catch (KubernetesClientException e) {
        LOG.warn("cannot store the CA rotation state in Secret {}/{} (HTTP {}); keeping the current plan and"
            + " retrying in {}", config.caSecretNamespace(), stateSecretName, e.getCode(), RETRY);
        schedule(now.plus(RETRY));
        return;
      }
      state = step.state();
      apply(state, step.changes());
    }
    state.nextTransition().ifPresentOrElse(this::schedule, () -> schedule(null));
  }

  private void apply(CaRotation plan, List<CaRotation.Change> changes) {
    signing = authorityFor(plan.signing());
    bundle = plan.bundle();
    List<dev.kubemtls.core.pki.BundleSignatures.Signer> signers = new ArrayList<>();
    signers.add(new dev.kubemtls.core.pki.BundleSignatures.Signer(plan.signing().certificate(), plan.signing().key()));
    plan.pending().ifPresent(p -> signers.add(new dev.kubemtls.core.pki.BundleSignatures.Signer(p.certificate(),
        p.key())));
    bundleSigners = List.copyOf(signers);
    for (CaRotation.Change change : changes) {
      LOG.info("CA rotation: {} -> {}", change, plan);
      listener.caRotation(change, plan);
    }
    for (Consumer<List<X509Certificate>> sink : bundleSinks) {
      sink.accept(bundle);
    }
  }

  private void schedule(Instant at) {
    if (next != null) {
      next.cancel(false);
      next = null;
    }
    if (at == null || closed) {
      return;
    }
    long delay = Math.max(0, Duration.between(clock.instant(), at).toMillis());
    next = scheduler.schedule(this::reconcileSafely, delay, TimeUnit.MILLISECONDS);
  }

  private CertificateAuthority authorityFor(CaRotation.CaKeyPair pair) {
    CertificateAuthority known = authorities.get(fingerprint(pair.certificate()));
    if (known != null) {
      return known;
    }
    return remember(CertificateAuthority.fromPem(Pem.encodeCertificates(List.of(pair.certificate())),
        Pem.encode("PRIVATE KEY", pair.key().getEncoded()), "the CA rotation state", ValidityPolicy.of(config), clock,
        random));
  }

  private CertificateAuthority remember(CertificateAuthority ca) {
    authorities.put(fingerprint(ca.certificate()), ca);
    return ca;
  }

  private Optional<CertificateAuthority> readDesired() {
    try {
      Secret secret = client.secrets().inNamespace(config.caSecretNamespace()).withName(config.caSecretName()).get();
      return secret == null ? Optional.empty() : parse(secret);
    } catch (KubernetesClientException e) {
      LOG.warn("cannot read the CA Secret {}/{} (HTTP {}); starting with the CA loaded at start-up",
          config.caSecretNamespace(), config.caSecretName(), e.getCode());
      return Optional.empty();
    }
  }

  private Optional<CertificateAuthority> parse(Secret secret) {
    try {
      return Optional.of(CertificateAuthority.fromSecret(secret, ValidityPolicy.of(config), clock, random));
    } catch (MtlsException e) {
      LOG.error("ignoring the content of the CA Secret {}/{}: {}; signing goes on with the current CAs",
          config.caSecretNamespace(), config.caSecretName(), e.getMessage());
      listener.caRejected(e.getMessage());
      return Optional.empty();
    }
  }

  // --- the state Secret: the plan as PEM and ISO-8601 instants --------------------------------

  private Optional<CaRotation> loadState() {
    Secret secret;
    try {
      secret = client.secrets().inNamespace(config.caSecretNamespace()).withName(stateSecretName).get();
    } catch (KubernetesClientException e) {
      // Signing must go on; only a rotation would be unsafe, and storing its plan fails loudly too.
      LOG.error("cannot read the CA rotation state Secret {}/{} (HTTP {}): the signer needs get, create and update"
          + " on it (see deploy/signer-rbac.yaml); signing with the CA from the CA Secret, and CA rotations cannot"
          + " proceed until this is fixed", config.caSecretNamespace(), stateSecretName, e.getCode());
      return Optional.empty();
    }
    if (secret == null) {
      return Optional.empty();
    }
    String what = "Secret " + config.caSecretNamespace() + "/" + stateSecretName;
    try {
      Map<String, String> data = secret.getData() == null ? Map.of() : secret.getData();
      Stored stored = readStored(data, what);
      X509Certificate signingCert = stored.signing();
      Optional<X509Certificate> pendingCert = stored.pending();
      Optional<Instant> switchAt = stored.switchAt();
      List<CaRotation.Retiring> retiring = new ArrayList<>(stored.retiring());
      Optional<CaRotation.CaKeyPair> pending = pendingCert.flatMap(cert -> withKey(cert, data, "pending", what));
      if (pendingCert.isPresent() && pending.isEmpty()) {
        // It never signed: the CA Secret now holds another CA, which reconcile() makes the pending one.
        LOG.warn("the CA Secret {}/{} no longer holds the pending CA {} of the stored plan; it was changed while no"
            + " signer ran, so the new CA starts propagating afresh", config.caSecretNamespace(), config.caSecretName(),
            pendingCert.get().getSerialNumber().toString(16));
        switchAt = Optional.empty();
      }
      Optional<CaRotation.CaKeyPair> signingPair = withKey(signingCert, data, "signing", what);
      CaRotation loaded;
      if (signingPair.isPresent()) {
        loaded = new CaRotation(signingPair.get(), pending, switchAt, retiring);
      } else {
        Instant now = clock.instant();
        LOG.warn("the CA Secret {}/{} was changed while no signer ran, and the key of the CA that signed until then"
            + " (serial {}) has no other copy: the new CA signs at once, and the former CA stays in the bundle until {}",
            config.caSecretNamespace(), config.caSecretName(), signingCert.getSerialNumber().toString(16),
            now.plus(config.caRetention()));
        retiring.add(new CaRotation.Retiring(signingCert, now.plus(config.caRetention())));
        loaded = new CaRotation(desired.keyPair(), Optional.empty(), Optional.empty(), retiring);
        storeAfterLoad = true;
      }
      LOG.info("resuming the CA rotation plan from {}: {}", what, loaded);
      return Optional.of(loaded);
    } catch (RuntimeException e) {
      LOG.error("the CA rotation state in {} cannot be used ({}); starting over from the CA Secret alone", what,
          e.getMessage());
      return Optional.empty();
    }
  }

  /**
   * What the state Secret holds, read without any judgement of what it means: the signing CA's
   * certificate, the pending CA's, the switch instant and the retiring CAs with their removal
   * instants. Each certificate's DER is size- and depth-checked before it is parsed.
   *
   * @param data the Secret's data (base64 values)
   * @throws InvalidMaterialException naming the entry for anything malformed or missing
   */
  static Stored readStored(Map<String, String> data, String what) {
    try {
      X509Certificate signing = certificate(data, "signing", what).orElseThrow(
          () -> new InvalidMaterialException(what + " has no signing.crt"));
      Optional<X509Certificate> pending = certificate(data, "pending", what);
      Optional<Instant> switchAt = Optional.ofNullable(text(data, "switch-at")).map(String::strip)
          .map(t -> instant(t, what + " switch-at"));
      List<CaRotation.Retiring> retiring = new ArrayList<>();
      String retiringPem = text(data, "retiring.crt");
      if (retiringPem != null) {
        List<X509Certificate> certs = certificates(retiringPem, what + " retiring.crt");
        String[] until = Objects.requireNonNullElse(text(data, "retiring.until"), "").strip().split("\\s+");
        if (until.length != certs.size()) {
          throw new InvalidMaterialException(what + ": retiring.crt and retiring.until do not match");
        }
        for (int i = 0; i < certs.size(); i++) {
          retiring.add(new CaRotation.Retiring(certs.get(i), instant(until[i], what + " retiring.until")));
        }
      }
      return new Stored(signing, pending, switchAt, List.copyOf(retiring));
    } catch (IllegalArgumentException e) {
      // Base64 that does not decode, a certificate the CA rotation refuses.
      throw new InvalidMaterialException(what + ": " + Bounded.message(e.getMessage()), e);
    }
  }

  /** The state Secret's content, as read by {@link #readStored}. */
  record Stored(X509Certificate signing, Optional<X509Certificate> pending, Optional<Instant> switchAt,
      List<CaRotation.Retiring> retiring) {}

  private static Instant instant(String text, String what) {
    try {
      return Instant.parse(text);
    } catch (java.time.format.DateTimeParseException e) {
      throw new InvalidMaterialException(what + " is not an ISO-8601 instant: '"
          + Bounded.clip(text, Bounded.ITEM_CHARS) + "'", e);
    }
  }

  private static List<X509Certificate> certificates(String pem, String what) {
    return Pem.certificates(pem, what);
  }

  private static Optional<X509Certificate> certificate(Map<String, String> data, String prefix, String what) {
    String crt = text(data, prefix + ".crt");
    return crt == null ? Optional.empty() : Optional.of(certificates(crt, what + " " + prefix + ".crt").get(0));
  }

  /**
   * The CA of {@code certificate} with its key: the one stored beside it (the signing CA during a
   * propagation, or a state written by an older signer), else the CA Secret's if it holds that
   * certificate, else none.
   */
  private Optional<CaRotation.CaKeyPair> withKey(X509Certificate certificate, Map<String, String> data, String prefix,
      String what) {
    String key = text(data, prefix + ".key");
    if (key != null) {
      return Optional.of(authorityFor(new CaRotation.CaKeyPair(certificate,
          Pem.privateKey(key, what + " " + prefix + ".key"))).keyPair());
    }
    return fingerprint(certificate).equals(fingerprint(desired.certificate())) ? Optional.of(desired.keyPair())
        : Optional.empty();
  }

  private void storeState(CaRotation plan) {
    Map<String, String> data = new LinkedHashMap<>();
    put(data, "signing.crt", Pem.encodeCertificates(List.of(plan.signing().certificate())));
    plan.pending().ifPresent(p -> {
      // The CA Secret holds the pending CA now; the signing CA's key has no other copy until the switch.
      put(data, "signing.key", Pem.encode("PRIVATE KEY", plan.signing().key().getEncoded()));
      put(data, "pending.crt", Pem.encodeCertificates(List.of(p.certificate())));
    });
    plan.switchAt().ifPresent(at -> put(data, "switch-at", at.toString()));
    if (!plan.retiring().isEmpty()) {
      put(data, "retiring.crt", Pem.encodeCertificates(plan.retiring().stream()
          .map(CaRotation.Retiring::certificate).toList()));
      put(data, "retiring.until", String.join("\n", plan.retiring().stream()
          .map(r -> r.removeAt().toString()).toList()));
    }
    var secrets = client.secrets().inNamespace(config.caSecretNamespace());
    Secret existing = secrets.withName(stateSecretName).get();
    if (existing == null) {
      secrets.resource(new SecretBuilder().withNewMetadata().withName(stateSecretName)
          .addToLabels(MANAGED_BY, "kube-mtls-signer").endMetadata().withType("Opaque").withData(data).build())
          .create();
    } else {
      existing.setData(data);
      secrets.resource(existing).update();
    }
  }

  private static void put(Map<String, String> data, String key, String text) {
    data.put(key, Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.US_ASCII)));
  }

  private static String text(Map<String, String> data, String key) {
    String b64 = data.get(key);
    return b64 == null ? null : new String(Base64.getDecoder().decode(b64), StandardCharsets.US_ASCII);
  }

  private static String fingerprint(X509Certificate c) {
    try {
      return Base64.getEncoder().encodeToString(java.security.MessageDigest.getInstance("SHA-256")
          .digest(c.getEncoded()));
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Stops following the Secret and cancels planned steps; the stored plan stays for the next leader. */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
      if (next != null) {
        next.cancel(false);
      }
    }
    if (informer != null) {
      informer.stop();
    }
    scheduler.shutdownNow();
  }
}
