package dev.kubemtls.kubernetes.trust;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.MtlsException;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.core.names.KubernetesNames;
import dev.kubemtls.core.pki.Pem;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.certificates.v1beta1.ClusterTrustBundle;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.StringJoiner;
import java.util.TreeSet;

/**
 * Reads {@link TrustBundle}s from where kube-mtls publishes them: a ConfigMap holding the PEM
 * bundle of CA certificates under a key ({@value #DEFAULT_KEY} by default), or the
 * ClusterTrustBundles ({@code certificates.k8s.io/v1beta1}) linked to the signer's name.
 *
 * <p>The ConfigMap is untrusted text until checked: every certificate must parse and be a CA
 * (basicConstraints CA=true and the keyCertSign key usage). Any such problem fails the whole
 * bundle with an {@link InvalidMaterialException} that names the ConfigMap, the certificate and
 * what is wrong, so a broken bundle never replaces a good one. A CA that has expired by the
 * injected clock is left out and named in {@link TrustBundle#ignored()}: it can no longer vouch
 * for anyone, and a stale CA that a rotation has not yet removed must not keep a workload from
 * learning the new one. Only a bundle whose CAs have all expired is refused. The bundle's
 * {@code sourceVersion} is {@code namespace/name@resourceVersion}.
 */
public final class TrustBundles {

  /** The key under which a CA bundle is stored, as in {@code kube-root-ca.crt}. */
  public static final String DEFAULT_KEY = "ca.crt";

  private static final int KEY_USAGE_KEY_CERT_SIGN = 5;

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
    return merge(Map.of(what, pem == null ? "" : pem), sourceVersion, now);
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
   * @throws InvalidMaterialException if {@code bundles} is empty or a bundle is invalid
   */
  public static TrustBundle fromClusterTrustBundles(Collection<ClusterTrustBundle> bundles, InstantSource clock) {
    Objects.requireNonNull(bundles, "bundles");
    Objects.requireNonNull(clock, "clock");
    if (bundles.isEmpty()) {
      throw new InvalidMaterialException("there is no ClusterTrustBundle to read");
    }
    List<ClusterTrustBundle> sorted = new ArrayList<>(bundles);
    sorted.sort(Comparator.comparing(b -> b.getMetadata().getName()));
    Map<String, String> pemByWhat = new LinkedHashMap<>();
    StringJoiner version = new StringJoiner(",");
    for (ClusterTrustBundle b : sorted) {
      String name = b.getMetadata().getName();
      String pem = b.getSpec() == null ? null : b.getSpec().getTrustBundle();
      pemByWhat.put("ClusterTrustBundle " + name, pem == null ? "" : pem);
      version.add(name + "@" + b.getMetadata().getResourceVersion());
    }
    return merge(pemByWhat, version.toString(), clock.instant());
  }

  /** Checks every PEM bundle of {@code pemByWhat} (keyed by what names it) and merges their CAs. */
  private static TrustBundle merge(Map<String, String> pemByWhat, String sourceVersion, Instant now) {
    Objects.requireNonNull(sourceVersion, "sourceVersion");
    Objects.requireNonNull(now, "now");
    Set<X509Certificate> trusted = new LinkedHashSet<>();
    List<String> ignored = new ArrayList<>();
    for (Map.Entry<String, String> source : pemByWhat.entrySet()) {
      String what = source.getKey();
      List<X509Certificate> cas = Pem.certificates(source.getValue(), what);
      for (int i = 0; i < cas.size(); i++) {
        X509Certificate ca = cas.get(i);
        String name = what + ": certificate " + (i + 1) + " (subject '" + ca.getSubjectX500Principal().getName()
            + "', serial " + ca.getSerialNumber().toString(16) + ")";
        if (ca.getBasicConstraints() < 0) {
          throw new InvalidMaterialException(name + " is not a CA certificate (basicConstraints CA=true is"
              + " missing); a trust bundle holds only CA certificates, not leaf certificates");
        }
        boolean[] keyUsage = ca.getKeyUsage();
        if (keyUsage == null || keyUsage.length <= KEY_USAGE_KEY_CERT_SIGN || !keyUsage[KEY_USAGE_KEY_CERT_SIGN]) {
          throw new InvalidMaterialException(name + " may not sign certificates (the keyCertSign key usage is"
              + " missing)");
        }
        Instant notAfter = ca.getNotAfter().toInstant();
        if (notAfter.isAfter(now)) {
          trusted.add(ca);
        } else {
          ignored.add(name + " expired at " + notAfter);
        }
      }
    }
    if (trusted.isEmpty()) {
      throw new InvalidMaterialException(String.join("; ", ignored) + ": every CA of the bundle has expired;"
          + " publish a valid CA (is the signer's CA rotation running?)");
    }
    return new TrustBundle(List.copyOf(trusted), sourceVersion, ignored);
  }
}
