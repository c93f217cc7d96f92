package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.names.Defaults;
import dev.kubemtls.core.names.KubernetesNames;
import dev.kubemtls.core.pki.CaBundles;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.StringJoiner;
import java.util.TreeSet;

/**
 * Reads {@link TrustBundle}s from where kube-mtls publishes them: a ConfigMap holding the PEM
 * bundle of CA certificates under a key ({@value #DEFAULT_KEY} by default), or the
 * ClusterTrustBundles ({@code certificates.k8s.io/v1} or {@code v1beta1}) linked to the signer's name.
 *
 * <p>The content is untrusted text until checked, by the same rules as every other trust source
 * ({@link CaBundles}): every certificate must parse and be a CA
 * ({@link dev.kubemtls.core.pki.CertificateChecks#caProblem}); any problem fails the whole bundle
 * with an {@link InvalidMaterialException} that names the ConfigMap, the certificate and what is
 * wrong, so a broken bundle never replaces a good one; a CA that has expired by the injected clock
 * is left out and named in {@link TrustBundle#ignored()}. The bundle's {@code sourceVersion} is
 * {@code namespace/name@resourceVersion}.
 */
public final class TrustBundles {

  /** The key under which a CA bundle is stored, as in {@code kube-root-ca.crt}. */
  public static final String DEFAULT_KEY = Defaults.TRUST_BUNDLE_KEY;

  private TrustBundles() {}

  /** Reads the bundle under {@value #DEFAULT_KEY} of ConfigMap {@code namespace/name}. */
  public static TrustBundle read(KubernetesClient client, String namespace, String name) {
    return read(client, namespace, name, DEFAULT_KEY, InstantSource.system());
  }

  /** Reads the bundle under {@code key} of ConfigMap {@code namespace/name}. */
  public static TrustBundle read(KubernetesClient client, String namespace, String name, String key) {
    return read(client, namespace, name, key, InstantSource.system());
  }

  /**
   * Reads the bundle under {@code key} of ConfigMap {@code namespace/name}, judging expiry by
   * {@code clock}.
   *
   * @throws InvalidMaterialException if the ConfigMap does not exist or its bundle is invalid
   * @throws MtlsException            if the API server cannot be reached or refuses the read
   */
  public static TrustBundle read(KubernetesClient client, String namespace, String name, String key,
      InstantSource clock) {
    Objects.requireNonNull(client, "client");
    KubernetesNames.requireDnsLabel("namespace", namespace);
    KubernetesNames.requireDnsSubdomain("name", name);
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(clock, "clock");
    ConfigMap cm;
    try {
      cm = client.configMaps().inNamespace(namespace).withName(name).get();
    } catch (KubernetesClientException e) {
      throw new MtlsException("cannot read the trust bundle ConfigMap " + namespace + "/" + name + " (HTTP "
          + e.getCode() + "): " + e.getMessage(), e);
    }
    if (cm == null) {
      throw new InvalidMaterialException("the trust bundle ConfigMap " + namespace + "/" + name
          + " does not exist (is the kube-mtls signer publishing to this namespace?)");
    }
    return fromConfigMap(cm, key, clock);
  }

  /** The bundle under {@code key} of {@code configMap}, judging expiry by the system clock. */
  public static TrustBundle fromConfigMap(ConfigMap configMap, String key) {
    return fromConfigMap(configMap, key, InstantSource.system());
  }

  /**
   * The bundle under {@code key} of {@code configMap}, judging expiry by {@code clock}.
   *
   * @throws InvalidMaterialException if the key is missing or the bundle is empty, does not parse,
   *     holds a certificate that is not a CA, or holds only expired CAs
   */
  public static TrustBundle fromConfigMap(ConfigMap configMap, String key, InstantSource clock) {
    Objects.requireNonNull(configMap, "configMap");
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(clock, "clock");
    var meta = Objects.requireNonNull(configMap.getMetadata(), "configMap.metadata");
    String where = meta.getNamespace() + "/" + meta.getName();
    String what = "ConfigMap " + where + " key " + key;
    Map<String, String> data = configMap.getData() == null ? Map.of() : configMap.getData();
    String pem = data.get(key);
    if (pem == null) {
      throw new InvalidMaterialException(what + " does not exist; the ConfigMap has the keys "
          + new TreeSet<>(data.keySet()));
    }
    return parse(pem, what, where + "@" + meta.getResourceVersion(), clock.instant());
  }

  /**
   * Parses and checks a PEM bundle of CA certificates from any source.
   *
   * @param pem           the PEM text
   * @param what          names the source in error messages, e.g. {@code "ConfigMap ns/name key ca.crt"}
   * @param sourceVersion the bundle's {@link TrustBundle#sourceVersion()}
   * @param now           the time against which expiry is judged; expired CAs are left out
   * @throws InvalidMaterialException naming the certificate and the problem, or if every CA has expired
   */
  public static TrustBundle parse(String pem, String what, String sourceVersion, Instant now) {
    Objects.requireNonNull(what, "what");
    return CaBundles.parse(pem, what, sourceVersion, now);
  }

  /**
   * Reads the trust anchors of the ClusterTrustBundles linked to one signer and merges them, as the
   * kubelet's {@code clusterTrustBundle} projection does: the union of every bundle's CAs, each
   * one once, in the order of the bundles' names. Each bundle is checked like
   * {@link #parse}; one bad bundle fails the whole merge, so it never replaces good trust. A CA
   * that has expired by {@code clock} is left out and named in {@link TrustBundle#ignored()}; only
   * a merge whose CAs have all expired is refused. The bundle's {@code sourceVersion} names every
   * bundle with its resourceVersion, {@code name@resourceVersion,name@resourceVersion}.
   *
   * @param bundles ClusterTrustBundles of either version, typed or untyped ({@link ClusterTrustBundles})
   * @throws InvalidMaterialException if {@code bundles} is empty or a bundle is invalid
   */
  public static TrustBundle fromClusterTrustBundles(Collection<? extends HasMetadata> bundles, InstantSource clock) {
    Objects.requireNonNull(bundles, "bundles");
    Objects.requireNonNull(clock, "clock");
    if (bundles.isEmpty()) {
      throw new InvalidMaterialException("there is no ClusterTrustBundle to read");
    }
    List<HasMetadata> sorted = new ArrayList<>(bundles);
    sorted.sort(Comparator.comparing(b -> b.getMetadata().getName()));
    Map<String, String> pemByWhat = new LinkedHashMap<>();
    StringJoiner version = new StringJoiner(",");
    for (HasMetadata b : sorted) {
      String name = b.getMetadata().getName();
      String pem = ClusterTrustBundles.trustBundle(b);
      pemByWhat.put("ClusterTrustBundle " + name, pem == null ? "" : pem);
      version.add(name + "@" + b.getMetadata().getResourceVersion());
    }
    return CaBundles.merge(pemByWhat, version.toString(), clock.instant());
  }
}
