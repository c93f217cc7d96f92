package dev.kubemtls.signer.internal;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * One served version of the PodCertificateRequest API ({@code certificates.k8s.io/v1} from
 * Kubernetes 1.37, {@code v1beta1} on 1.35 and 1.36), as fabric8's typed model of that version:
 * how a request reads as the one {@link View} the controller and {@link PodCertificateRules} decide
 * on, and how a {@link Status} is put on a copy for the status update. Nothing else differs between
 * the versions: the status, the conditions and the API server's rules for them are the same.
 *
 * @param <T> fabric8's PodCertificateRequest class of the version
 */
final class PodCertificateApi<T extends HasMetadata> {

  /** {@code certificates.k8s.io/v1}: no {@code pkixPublicKey}/{@code proofOfPossession}, only the stub request. */
  public static final PodCertificateApi<io.fabric8.kubernetes.api.model.certificates.v1.PodCertificateRequest> V1 =
      new PodCertificateApi<>("v1", io.fabric8.kubernetes.api.model.certificates.v1.PodCertificateRequest.class,
          PodCertificateApi::viewV1, PodCertificateApi::withStatusV1);

  /** {@code certificates.k8s.io/v1beta1}: the stub request (1.36 kubelets) or key and proof (1.35). */
  public static final PodCertificateApi<io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequest>
      V1BETA1 = new PodCertificateApi<>("v1beta1",
          io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequest.class,
          PodCertificateApi::viewV1beta1, PodCertificateApi::withStatusV1beta1);

  /**
   * The facts of one request, whatever its version.
   *
   * @param stubPkcs10Request, pkixPublicKey, proofOfPossession the base64 text of the JSON, or null
   * @param conditions         the status conditions, possibly empty
   */
  public record View(String namespace, String name, Long generation, String creationTimestamp, String signerName,
      String podName, String podUid, String serviceAccountName, Integer maxExpirationSeconds,
      String stubPkcs10Request, String pkixPublicKey, String proofOfPossession,
      Map<String, String> unverifiedUserAnnotations, List<Condition> conditions) {
    public View {
      conditions = conditions == null ? List.of() : List.copyOf(conditions);
    }

    /** {@code namespace/name}. */
    public String key() {
      return namespace + "/" + name;
    }

    /** Whether {@code Issued}, {@code Denied} or {@code Failed} is already set. */
    public boolean terminal() {
      return conditions.stream().anyMatch(c -> "True".equals(c.getStatus())
          && (PodCertificateController.ISSUED.equals(c.getType()) || PodCertificateController.DENIED.equals(c.getType())
          || PodCertificateController.FAILED.equals(c.getType())));
    }

    /** What {@link PodCertificateRules} decides on. */
    public PodCertificateRules.Request request() {
      return new PodCertificateRules.Request(namespace, podName, podUid, serviceAccountName, stubPkcs10Request,
          pkixPublicKey, proofOfPossession, maxExpirationSeconds, unverifiedUserAnnotations);
    }
  }

  /** The status to write: conditions, and for {@code Issued} the chain and the three times (else null). */
  public record Status(List<Condition> conditions, String certificateChain, String notBefore, String notAfter,
      String beginRefreshAt) {
    public Status {
      conditions = List.copyOf(conditions);
    }
  }

  private final String version;
  private final Class<T> type;
  private final Function<T, View> view;
  private final BiFunction<T, Status, T> withStatus;

  private PodCertificateApi(String version, Class<T> type, Function<T, View> view, BiFunction<T, Status, T> withStatus) {
    this.version = version;
    this.type = type;
    this.view = view;
    this.withStatus = withStatus;
  }

  /**
   * The API of {@code version} ({@code "v1"} or {@code "v1beta1"}, as
   * {@code dev.kubemtls.kubernetes.CertificatesApi} finds it).
   */
  public static PodCertificateApi<?> forVersion(String version) {
    return switch (Objects.requireNonNull(version, "version")) {
      case "v1" -> V1;
      case "v1beta1" -> V1BETA1;
      default -> throw new IllegalArgumentException("no PodCertificateRequest API " + version);
    };
  }

  /** {@code v1} or {@code v1beta1}. */
  public String version() {
    return version;
  }

  /** fabric8's model class of this version. */
  public Class<T> type() {
    return type;
  }

  /** The request as a {@link View}; a request without a spec reads with null fields. */
  public View view(T request) {
    return view.apply(request);
  }

  /** A copy of {@code request} (its metadata and resourceVersion kept) whose status is {@code status}. */
  public T withStatus(T request, Status status) {
    return withStatus.apply(request, status);
  }

  private static View viewV1(io.fabric8.kubernetes.api.model.certificates.v1.PodCertificateRequest r) {
    var spec = r.getSpec() == null ? new io.fabric8.kubernetes.api.model.certificates.v1.PodCertificateRequestSpec()
        : r.getSpec();
    return new View(r.getMetadata().getNamespace(), r.getMetadata().getName(), r.getMetadata().getGeneration(),
        r.getMetadata().getCreationTimestamp(), spec.getSignerName(), spec.getPodName(), spec.getPodUID(),
        spec.getServiceAccountName(), spec.getMaxExpirationSeconds(), spec.getStubPKCS10Request(), null, null,
        spec.getUnverifiedUserAnnotations(), r.getStatus() == null ? null : r.getStatus().getConditions());
  }

  private static View viewV1beta1(io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequest r) {
    var spec = r.getSpec() == null
        ? new io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequestSpec() : r.getSpec();
    return new View(r.getMetadata().getNamespace(), r.getMetadata().getName(), r.getMetadata().getGeneration(),
        r.getMetadata().getCreationTimestamp(), spec.getSignerName(), spec.getPodName(), spec.getPodUID(),
        spec.getServiceAccountName(), spec.getMaxExpirationSeconds(), spec.getStubPKCS10Request(),
        spec.getPkixPublicKey(), spec.getProofOfPossession(), spec.getUnverifiedUserAnnotations(),
        r.getStatus() == null ? null : r.getStatus().getConditions());
  }

  private static io.fabric8.kubernetes.api.model.certificates.v1.PodCertificateRequest withStatusV1(
      io.fabric8.kubernetes.api.model.certificates.v1.PodCertificateRequest r, Status s) {
    var copy = new io.fabric8.kubernetes.api.model.certificates.v1.PodCertificateRequestBuilder(r).build();
    var status = new io.fabric8.kubernetes.api.model.certificates.v1.PodCertificateRequestStatus();
    status.setConditions(new java.util.ArrayList<>(s.conditions()));
    status.setCertificateChain(s.certificateChain());
    status.setNotBefore(s.notBefore());
    status.setNotAfter(s.notAfter());
    status.setBeginRefreshAt(s.beginRefreshAt());
    copy.setStatus(status);
    return copy;
  }

  private static io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequest withStatusV1beta1(
      io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequest r, Status s) {
    var copy = new io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequestBuilder(r).build();
    var status = new io.fabric8.kubernetes.api.model.certificates.v1beta1.PodCertificateRequestStatus();
    status.setConditions(new java.util.ArrayList<>(s.conditions()));
    status.setCertificateChain(s.certificateChain());
    status.setNotBefore(s.notBefore());
    status.setNotAfter(s.notAfter());
    status.setBeginRefreshAt(s.beginRefreshAt());
    copy.setStatus(status);
    return copy;
  }
}
