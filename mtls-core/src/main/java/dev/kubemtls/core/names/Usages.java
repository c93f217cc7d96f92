package dev.kubemtls.core.names;

import java.util.List;
import java.util.Set;

/**
 * The key usages of certificates.k8s.io/v1 ({@code spec.usages}) that kube-mtls requests and
 * issues, in the API's spelling; the one place that spells them for the workload side (what it
 * requests and checks in what it gets) and the signer (what it accepts and puts into a certificate).
 */
public final class Usages {

  public static final String DIGITAL_SIGNATURE = "digital signature";
  public static final String KEY_ENCIPHERMENT = "key encipherment";
  /** TLS server authentication: the extended key usage id-kp-serverAuth. */
  public static final String SERVER_AUTH = "server auth";
  /** TLS client authentication: the extended key usage id-kp-clientAuth. */
  public static final String CLIENT_AUTH = "client auth";

  /** Every usage the signer will put into a certificate. */
  public static final Set<String> SUPPORTED = Set.of(DIGITAL_SIGNATURE, KEY_ENCIPHERMENT, SERVER_AUTH, CLIENT_AUTH);

  private Usages() {}

  /** The usages of {@code requested} that are not supported, in request order. */
  public static List<String> unsupported(List<String> requested) {
    return requested.stream().filter(u -> !SUPPORTED.contains(u)).toList();
  }
}
