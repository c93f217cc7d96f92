package dev.kubemtls.signer.internal;

import dev.kubemtls.core.InvalidMaterialException;
import java.util.Objects;

/**
 * A PKCS#10 request as a CSR's {@code spec.request} carries it, read once: the approver's verdict
 * ({@link ApprovalPolicy#decide(CertificateRequest, java.util.List, Requester, ClusterView)}) and the
 * CA's signature ({@link CertificateAuthority#sign(CertificateRequest, java.util.List, Integer)})
 * then share one parse and one check of its signature. Reading it checks only that it is one
 * well-formed request within the size limits; whether it may be signed is the policy's and the CA's
 * to say. Immutable; its parts are not exposed.
 */
public final class CertificateRequest {

  final ParsedCsr parsed;

  private CertificateRequest(ParsedCsr parsed) {
    this.parsed = parsed;
  }

  /**
   * Reads the PEM text of a request.
   *
   * @throws InvalidMaterialException naming what is malformed
   */
  public static CertificateRequest parse(String pem) {
    return new CertificateRequest(ParsedCsr.parse(Objects.requireNonNull(pem, "pem")));
  }
}
