package dev.kubemtls.core.internal;

import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;

/** Whether a connection's chain still ends in a CA of the bundle (the connection bounds' check). */
public final class Issuers {

  private Issuers() {}

  /**
   * Whether {@code top} (the last certificate a peer sent) is one of {@code cas}, or is signed by
   * one of them: a CA with the issuer's name whose key verifies the signature (a CA renewed under the
   * same name with another key is not the issuer).
   */
  public static boolean issuedByAny(X509Certificate top, Collection<X509Certificate> cas) {
    for (X509Certificate ca : List.copyOf(cas)) {
      if (ca.equals(top)) {
        return true;
      }
      if (ca.getSubjectX500Principal().equals(top.getIssuerX500Principal())) {
        try {
          top.verify(ca.getPublicKey());
          return true;
        } catch (GeneralSecurityException notThisOne) {
          // same name, another key: keep looking
        }
      }
    }
    return false;
  }
}
