package dev.kubemtls.signer.internal;

import java.util.List;
import java.util.Set;

/** The {@code spec.usages} strings of certificates.k8s.io/v1 that kube-mtls issues. */
public final class Usages {

  public static final String DIGITAL_SIGNATURE = "digital signature";
  public static final String KEY_ENCIPHERMENT = "key encipherment";
  public static final String SERVER_AUTH = "server auth";
  public static final String CLIENT_AUTH = "client auth";

  /** Every usage the signer will put into a certificate. */
  public static final Set<String> SUPPORTED = Set.of(DIGITAL_SIGNATURE, KEY_ENCIPHERMENT, SERVER_AUTH, CLIENT_AUTH);

  private Usages() {}

  /** The usages of {@code requested} that are not supported, in request order. */
  public static List<String> unsupported(List<String> requested) {
    return requested.stream().filter(u -> !SUPPORTED.contains(u)).toList();
  }
}
