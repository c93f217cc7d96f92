package dev.kubemtls.core.names;

import java.util.Set;

/**
 * The reasons kube-mtls' approver gives when it denies a request, split by whether another attempt
 * of the same workload can ever change the answer. The approver ({@code mtls-signer}'s
 * {@code ApprovalDecision}) writes these strings into the Denied condition; a workload reads them
 * back and stops retrying a first issuance denied for a {@linkplain #FINAL final} reason, since
 * each retry would only leave another denied request behind.
 *
 * <p>A reason is final when the verdict depends only on what the workload asks for (its key, its
 * names, its request) and on who it is (its ServiceAccount and the Pod its token is bound to), all
 * fixed for the life of the process. {@link #UNAUTHORIZED_DNS_NAME} and
 * {@link #UNAUTHORIZED_IP_ADDRESS} are not: a Service that selects the Pod, or the Pod's IP, may
 * appear later.
 */
public final class DenialReasons {

  public static final String NOT_SERVICE_ACCOUNT = "NotServiceAccount";
  public static final String MALFORMED_REQUEST = "MalformedRequest";
  public static final String INVALID_SIGNATURE = "InvalidSignature";
  public static final String CA_NOT_ALLOWED = "CaNotAllowed";
  public static final String UNEXPECTED_USAGE = "UnexpectedUsage";
  public static final String EMAIL_NOT_ALLOWED = "EmailNotAllowed";
  public static final String UNSUPPORTED_NAME = "UnsupportedName";
  public static final String SPIFFE_ID_MISMATCH = "SpiffeIdMismatch";
  public static final String WILDCARD_NOT_ALLOWED = "WildcardNotAllowed";
  public static final String UNAUTHORIZED_DNS_NAME = "UnauthorizedDnsName";
  public static final String UNAUTHORIZED_IP_ADDRESS = "UnauthorizedIpAddress";
  public static final String POD_BINDING_REQUIRED = "PodBindingRequired";
  public static final String SUBJECT_NOT_ALLOWED = "SubjectNotAllowed";
  public static final String NO_IDENTITY = "NoIdentity";
  public static final String KEY_NOT_ALLOWED = "KeyNotAllowed";
  public static final String SIGNATURE_ALGORITHM_NOT_ALLOWED = "SignatureAlgorithmNotAllowed";
  public static final String TOO_MANY_NAMES = "TooManyNames";
  public static final String DUPLICATE_NAME = "DuplicateName";
  public static final String MAPPED_IP_ADDRESS = "MappedIpAddress";

  /** Denials no further attempt of the same workload can change. */
  public static final Set<String> FINAL = Set.of(NOT_SERVICE_ACCOUNT, MALFORMED_REQUEST, INVALID_SIGNATURE,
      CA_NOT_ALLOWED, UNEXPECTED_USAGE, EMAIL_NOT_ALLOWED, UNSUPPORTED_NAME, SPIFFE_ID_MISMATCH,
      WILDCARD_NOT_ALLOWED, POD_BINDING_REQUIRED, SUBJECT_NOT_ALLOWED, NO_IDENTITY, KEY_NOT_ALLOWED,
      SIGNATURE_ALGORITHM_NOT_ALLOWED, TOO_MANY_NAMES, DUPLICATE_NAME, MAPPED_IP_ADDRESS);

  /** Denials that may turn into approvals without the workload changing (a Service or Pod IP appears). */
  public static final Set<String> MAY_CHANGE = Set.of(UNAUTHORIZED_DNS_NAME, UNAUTHORIZED_IP_ADDRESS);

  private DenialReasons() {}
}
