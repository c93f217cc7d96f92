package dev.kubemtls.core.pki;

import dev.kubemtls.core.InvalidMaterialException;
import dev.kubemtls.core.TrustBundle;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Turns PEM text of CA certificates from any source (a ConfigMap, a ClusterTrustBundle, a projected
 * file) into a {@link TrustBundle}, by the one set of rules every trust source applies.
 *
 * <p>The text is hostile until checked: every block must be a certificate that parses
 * ({@link Pem#certificates}) and is a CA by {@link CertificateChecks#caProblem}. Any such problem
 * fails the whole bundle with an {@link InvalidMaterialException} naming the source, the
 * certificate and what is wrong, so a broken bundle never replaces a good one. A CA that has
 * expired at {@code now} is left out and named in {@link TrustBundle#ignored()}: it can no longer
 * vouch for anyone, and a stale CA that a rotation has not removed yet must not keep a workload
 * from learning the new one. Only a bundle whose CAs have all expired is refused.
 */
public final class CaBundles {

  private CaBundles() {}

  /**
   * Parses and checks one PEM bundle.
   *
   * @param pem           the PEM text
   * @param what          names the source in messages, e.g. {@code "ConfigMap ns/name key ca.crt"}
   * @param sourceVersion the bundle's {@link TrustBundle#sourceVersion()}
   * @param now           the time against which expiry is judged
   * @throws InvalidMaterialException naming the certificate and the problem, or if every CA has expired
   */
  public static TrustBundle parse(String pem, String what, String sourceVersion, Instant now) {
    Objects.requireNonNull(what, "what");
    return merge(Map.of(what, pem == null ? "" : pem), sourceVersion, now);
  }

  /**
   * Checks every PEM bundle of {@code pemByWhat} (keyed by what names it, in the map's order) and
   * merges their CAs: the union, each CA once, in order. One bad bundle fails the merge.
   *
   * @throws InvalidMaterialException as for {@link #parse}
   */
  public static TrustBundle merge(Map<String, String> pemByWhat, String sourceVersion, Instant now) {
    Objects.requireNonNull(pemByWhat, "pemByWhat");
    Objects.requireNonNull(sourceVersion, "sourceVersion");
    Objects.requireNonNull(now, "now");
    Set<X509Certificate> trusted = new LinkedHashSet<>();
    List<String> ignored = new ArrayList<>();
    for (Map.Entry<String, String> source : pemByWhat.entrySet()) {
      String what = source.getKey();
      List<X509Certificate> cas = Pem.certificates(source.getValue(), what);
      for (int i = 0; i < cas.size(); i++) {
        X509Certificate ca = cas.get(i);
        String name = what + ": certificate " + (i + 1);
        CertificateChecks.requireCa(ca, name);
        Instant notAfter = ca.getNotAfter().toInstant();
        if (notAfter.isAfter(now)) {
          trusted.add(ca);
        } else {
          ignored.add(name + " (subject '" + ca.getSubjectX500Principal().getName() + "', serial "
              + ca.getSerialNumber().toString(16) + ") expired at " + notAfter);
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
