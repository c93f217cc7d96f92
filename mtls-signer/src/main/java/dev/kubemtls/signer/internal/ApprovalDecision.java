package dev.kubemtls.signer.internal;

import java.util.Objects;

/**
 * The approver's verdict on one CertificateSigningRequest: approve or deny, with a machine-readable
 * reason (CamelCase, used as the condition's {@code reason}) and a message for people (the
 * condition's {@code message}). The reason constants below are part of the API: workloads and
 * alerts may match on them.
 *
 * @param approved whether the request is approved
 * @param reason   the condition reason
 * @param message  the condition message
 */
public record ApprovalDecision(boolean approved, String reason, String message) {

  /** The request satisfies the policy. */
  public static final String APPROVED = "KubeMtlsPolicyApproved";
  /** The requester is not a ServiceAccount. */
  public static final String NOT_SERVICE_ACCOUNT = "NotServiceAccount";
  /** {@code spec.request} is not a well-formed PKCS#10 request. */
  public static final String MALFORMED_REQUEST = "MalformedRequest";
  /** The request's signature does not verify: no proof of possession of the private key. */
  public static final String INVALID_SIGNATURE = "InvalidSignature";
  /** The request asks for a CA certificate. */
  public static final String CA_NOT_ALLOWED = "CaNotAllowed";
  /** A usage other than digital signature, key encipherment (RSA), server auth and client auth. */
  public static final String UNEXPECTED_USAGE = "UnexpectedUsage";
  /** An email address SAN. */
  public static final String EMAIL_NOT_ALLOWED = "EmailNotAllowed";
  /** A SAN of a kind kube-mtls never issues (other name, directory name, registered ID). */
  public static final String UNSUPPORTED_NAME = "UnsupportedName";
  /** A URI SAN other than the requester's own SPIFFE ID, or more than one. */
  public static final String SPIFFE_ID_MISMATCH = "SpiffeIdMismatch";
  /** A wildcard DNS name. */
  public static final String WILDCARD_NOT_ALLOWED = "WildcardNotAllowed";
  /** A DNS name the requester may not have (another namespace's, or no Service of its Pod). */
  public static final String UNAUTHORIZED_DNS_NAME = "UnauthorizedDnsName";
  /** An IP address SAN other than the requesting Pod's IP. */
  public static final String UNAUTHORIZED_IP_ADDRESS = "UnauthorizedIpAddress";
  /** DNS or IP names were asked for but the token is not bound to a (live, matching) Pod. */
  public static final String POD_BINDING_REQUIRED = "PodBindingRequired";
  /** The subject holds something other than a common name that is one of the requested names. */
  public static final String SUBJECT_NOT_ALLOWED = "SubjectNotAllowed";
  /** The request names no identity at all. */
  public static final String NO_IDENTITY = "NoIdentity";
  /** A key the signer does not issue for: RSA under 2048 (or over 8192) bits, an EC curve other than P-256 or P-384, Ed25519, others. */
  public static final String KEY_NOT_ALLOWED = "KeyNotAllowed";
  /** The request is signed with SHA-1, MD5 or another algorithm than ECDSA/RSA with SHA-256, -384 or -512. */
  public static final String SIGNATURE_ALGORITHM_NOT_ALLOWED = "SignatureAlgorithmNotAllowed";
  /** More subject alternative names than the configured cap ({@code --max-names}). */
  public static final String TOO_MANY_NAMES = "TooManyNames";
  /** The same subject alternative name more than once. */
  public static final String DUPLICATE_NAME = "DuplicateName";
  /** An IPv4-mapped IPv6 address ({@code ::ffff:a.b.c.d}) as IP SAN. */
  public static final String MAPPED_IP_ADDRESS = "MappedIpAddress";

  /**
   * Checks that reason and message are present; a message longer than 1024 characters is clipped,
   * so a condition never repeats a hostile request at length.
   */
  public ApprovalDecision {
    Objects.requireNonNull(reason, "reason");
    Objects.requireNonNull(message, "message");
    message = dev.kubemtls.signer.internal.Bounded.message(message);
  }

  /** An approval. */
  public static ApprovalDecision approve(String message) {
    return new ApprovalDecision(true, APPROVED, message);
  }

  /** A denial with {@code reason}. */
  public static ApprovalDecision deny(String reason, String message) {
    return new ApprovalDecision(false, reason, message);
  }
}
