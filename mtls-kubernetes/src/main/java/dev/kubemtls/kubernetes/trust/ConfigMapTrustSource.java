package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.TrustSource;
import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.core.names.KubernetesNames;
import dev.kubemtls.core.pki.BundleSignatures;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.informers.cache.ReducedStateItemStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * A {@link TrustSource} that follows one key of one ConfigMap, typically the CA bundle that the
 * kube-mtls signer publishes into each namespace.
 *
 * <p>Who holds what: the source holds the last valid bundle it read. An informer (a list, then a
 * watch, relisting after a dropped watch so no update is missed) tells it of each change, and a
 * bundle with different certificates is passed to the listeners at once. Anything unusable leaves
 * the previous bundle in place and is reported to the listeners' {@code onProblem} and
 * {@link #lastProblem()}: a missing key, text that is not PEM certificates, an empty bundle, a
 * certificate that is not a CA, a deleted ConfigMap, or a failing watch (for example RBAC). A
 * recreated ConfigMap is followed again.
 *
 * <p>A ConfigMap writer cannot forge it. Anyone who may write ConfigMaps in the namespace
 * (editors, CI and GitOps accounts) could otherwise add a CA of their own and have every workload
 * there accept certificates that CA makes for any name. So by default a bundle is accepted only
 * with a valid {@link BundleSignatures signature} under the key {@code <key>.sig} (e.g.
 * {@code ca.crt.sig}) over exactly its PEM text, made by a CA this source already trusts, and no
 * older than the bundle it holds. The first trust comes from a channel only the signer can write:
 * {@link #vouch} is given the chain the signer wrote into the workload's own CSR (which only holders
 * of {@code sign} on the signer name can write), and a CA of the bundle whose key issued that
 * certificate counts as trusted; {@link Builder#anchors} can pin CAs as well. {@code KubeMtls} does
 * the vouching. Until something vouches, the bundle waits (reported as a problem). An unsigned,
 * changed or foreign-signed bundle leaves the previous bundle in place and is reported to the
 * listeners' {@code onProblem} (so the certificate manager logs and counts it as a rejected trust
 * change). {@link Builder#requireSignature(boolean) requireSignature(false)} turns this off, for a
 * bundle from a signer that does not sign, knowing that any ConfigMap writer can then add a CA.
 *
 * <p>The workload needs only {@code get}, {@code list} and {@code watch} on {@code configmaps} in
 * the ConfigMap's namespace (and may restrict them with {@code resourceNames}). The informer runs
 * on the client's threads; {@link #close()} stops it. The client stays the caller's.
 */
public final class ConfigMapTrustSource extends InformerTrust<ConfigMap> {

  /** The key read unless {@link Builder#key} says otherwise. */
  public static final String DEFAULT_KEY = Defaults.TRUST_BUNDLE_KEY;

  private final KubernetesClient client;
  private final String namespace;
  private final String name;
  private final Duration resync;

  private final Gate gate;

  private ConfigMapTrustSource(Builder b) {
    this(b, new Gate(b));
  }

  private ConfigMapTrustSource(Builder b, Gate gate) {
    super(ConfigMapTrustSource.class, "ConfigMap " + b.namespace + "/" + b.name + " key " + b.key,
        "get, list and watch on configmaps in " + b.namespace, gate, true);
    this.client = b.client;
    this.namespace = b.namespace;
    this.name = b.name;
    this.resync = b.resync;
    this.gate = gate;
  }

  /**
   * Tells this source the chain a signer wrote for this workload's own certificate request (leaf
   * first), which only the signer can write: a CA of the bundle whose key issued a certificate of
   * it is trusted to vouch for the bundle. Rechecks the cached ConfigMap at once, so a bundle that
   * waited for this is taken now. Harmless when signatures are not required.
   */
  public void vouch(List<X509Certificate> chainFromSigner) {
    Objects.requireNonNull(chainFromSigner, "chainFromSigner");
    if (gate.vouch(chainFromSigner)) {
      recheck();
    }
  }

  /** Whether a bundle must carry a valid signature to be accepted ({@link Builder#requireSignature}). */
  public boolean requiresSignature() {
    return gate.required;
  }

  /** Reads the ConfigMap's bundle and, when required, lets it through only with a vouched signature. */
  private static final class Gate implements Reader<ConfigMap> {
    private final String key;
    private final String signatureKey;
    private final InstantSource clock;
    private final String what;
    private final boolean required;
    private final List<X509Certificate> pinned;
    private final Set<X509Certificate> vouched = new LinkedHashSet<>();
    private List<X509Certificate> accepted = List.of();
    private Instant acceptedSigningTime;

    Gate(Builder b) {
      this.key = b.key;
      this.signatureKey = BundleSignatures.signatureKey(b.key);
      this.clock = b.clock;
      this.what = "ConfigMap " + b.namespace + "/" + b.name;
      this.required = b.requireSignature;
      this.pinned = List.copyOf(b.anchors);
    }

    synchronized boolean vouch(List<X509Certificate> chain) {
      return vouched.addAll(chain);
    }

    @Override
    public TrustBundle read(List<ConfigMap> cached) {
      if (cached.isEmpty()) {
        throw new MtlsException(what + " was deleted; keeping the previous trust bundle until it is recreated");
      }
      ConfigMap configMap = cached.get(0);
      TrustBundle candidate = TrustBundles.fromConfigMap(configMap, key, clock);
      if (!required) {
        return candidate;
      }
      Map<String, String> data = configMap.getData() == null ? Map.of() : configMap.getData();
      synchronized (this) {
        List<X509Certificate> trusted = trusted(candidate.certificates());
        if (trusted.isEmpty()) {
          // No CA of it is trusted yet (none issued this workload's certificate, none is pinned): it is
          // taken once the signer has issued this workload's first certificate.
          return null;
        }
        BundleSignatures.Verified verified = BundleSignatures.verify(data.get(key), data.get(signatureKey), trusted,
            what + " key " + signatureKey);
        if (acceptedSigningTime != null && verified.signingTime().isBefore(acceptedSigningTime)) {
          throw new InvalidMaterialException(what + " key " + key + " is signed at " + verified.signingTime()
              + ", before the bundle in use (signed at " + acceptedSigningTime + "): an older bundle put back");
        }
        acceptedSigningTime = verified.signingTime();
        accepted = candidate.certificates();
        return candidate;
      }
    }

    /** The CAs whose signature counts: those in use, those pinned, and those that issued a vouched certificate. */
    private List<X509Certificate> trusted(Collection<X509Certificate> offered) {
      Set<X509Certificate> out = new LinkedHashSet<>(accepted);
      out.addAll(pinned);
      List<X509Certificate> candidates = new ArrayList<>(offered);
      candidates.addAll(accepted);
      for (X509Certificate ca : candidates) {
        for (X509Certificate issued : vouched) {
          if (!issued.equals(ca) && BundleSignatures.issued(ca.getPublicKey(), issued)) {
            out.add(ca);
            break;
          }
        }
      }
      return List.copyOf(out);
    }
  }

  /** Follows key {@code ca.crt} of ConfigMap {@code namespace/name}. */
  public static Builder builder(KubernetesClient client, String namespace, String name) {
    return new Builder(client, namespace, name);
  }

  /**
   * Starts following the ConfigMap.
   *
   * @return completes with the first valid bundle (it may take until the ConfigMap is created)
   * @throws IllegalStateException if already started or closed
   */
  public CompletableFuture<TrustBundle> start() {
    return startInformer(() -> {
      SharedIndexInformer<ConfigMap> informer = client.configMaps().inNamespace(namespace).withName(name)
          .runnableInformer(resync.toMillis());
      // Only what the bundle is read from (namespace, name and resourceVersion are always kept), not
      // the managed fields and the rest of the object.
      informer.itemStore(new ReducedStateItemStore<>(ReducedStateItemStore.NAME_KEY_STATE, ConfigMap.class,
          client.getKubernetesSerialization(), "data"));
      return informer;
    });
  }

  /** Options of a {@link ConfigMapTrustSource}. */
  public static final class Builder {
    private final KubernetesClient client;
    private final String namespace;
    private final String name;
    private String key = DEFAULT_KEY;
    private Duration resync = InformerTrust.DEFAULT_RESYNC;
    private InstantSource clock = InstantSource.system();
    private boolean requireSignature = true;
    private final List<X509Certificate> anchors = new ArrayList<>();

    private Builder(KubernetesClient client, String namespace, String name) {
      this.client = Objects.requireNonNull(client, "client");
      this.namespace = KubernetesNames.requireDnsLabel("namespace", namespace);
      this.name = KubernetesNames.requireDnsSubdomain("ConfigMap name", name);
    }

    /** The data key holding the PEM bundle; {@code ca.crt} by default. */
    public Builder key(String key) {
      Objects.requireNonNull(key, "key");
      if (key.isEmpty() || key.length() > 253 || !key.matches("[-._a-zA-Z0-9]+")) {
        throw new IllegalArgumentException("ConfigMap key '" + key + "' is not valid: use letters, digits,"
            + " '-', '_' and '.'");
      }
      this.key = key;
      return this;
    }

    /**
     * How often the informer re-delivers the cached ConfigMap (a safety net; changes arrive by
     * watch at once); zero turns it off. Ten minutes by default.
     */
    public Builder resync(Duration resync) {
      this.resync = InformerTrust.requireResync(resync);
      return this;
    }

    /** The clock against which CA expiry is judged; the system clock by default. */
    public Builder clock(InstantSource clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /**
     * Whether a bundle is accepted only with a valid signature by a CA already trusted (see the
     * class description); true by default. {@code false} accepts whatever the ConfigMap holds, so
     * anyone who may write ConfigMaps in the namespace can add a CA: only for a signer that does not
     * sign its bundles.
     */
    public Builder requireSignature(boolean requireSignature) {
      this.requireSignature = requireSignature;
      return this;
    }

    /**
     * CAs trusted to vouch for the bundle from the start, besides those {@link #vouch} learns (for
     * a workload that has no certificate of its own from the signer, e.g. a pure client pinning the
     * CA it was deployed with). None by default.
     */
    public Builder anchors(Collection<X509Certificate> anchors) {
      Objects.requireNonNull(anchors, "anchors").forEach(a -> this.anchors.add(Objects.requireNonNull(a, "anchor")));
      return this;
    }

    public ConfigMapTrustSource build() {
      return new ConfigMapTrustSource(this);
    }
  }
}
