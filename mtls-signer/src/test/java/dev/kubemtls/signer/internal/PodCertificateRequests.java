package dev.kubemtls.signer.internal;

import dev.kubemtls.kubernetes.CertificatesApi;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.MixedOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceList;
import java.security.KeyPair;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * PodCertificateRequests for the tests in whatever version the cluster serves, read and written as
 * plain JSON ({@link GenericKubernetesResource}), independently of the signer's own typed adapter:
 * {@code certificates.k8s.io/v1} on 1.37, {@code v1beta1} on 1.35 and 1.36. The key travels as the
 * kubelet of the release sends it: a stub PKCS#10 request from 1.36 on, the PKIX key with a proof of
 * possession on 1.35.
 */
public final class PodCertificateRequests {

  private PodCertificateRequests() {}

  /** The version the cluster serves ({@code v1} preferred), found through discovery. */
  public static String version(KubernetesClient client) {
    return CertificatesApi.servedVersion(client, CertificatesApi.Kind.POD_CERTIFICATE_REQUEST).orElseThrow(
        () -> new IllegalStateException("the cluster serves no PodCertificateRequests"));
  }

  /** The requests of the served version, as {@code client}. */
  public static MixedOperation<GenericKubernetesResource, GenericKubernetesResourceList,
      Resource<GenericKubernetesResource>> api(KubernetesClient client, String version) {
    return client.genericKubernetesResources(CertificatesApi.apiVersion(version), "PodCertificateRequest");
  }

  /** Whether a kubelet of this release sends a stub request (1.36 and later) rather than key and proof. */
  public static boolean stubForm(int minor) {
    return minor >= 36;
  }

  /**
   * A stub PKCS#10 request for {@code keys} as the kubelet makes it (empty subject, no attributes),
   * signed with the algorithm Go picks for the key, as base64 text.
   */
  public static String stub(KeyPair keys) {
    return stub(keys, keys.getPrivate());
  }

  /** As {@link #stub(KeyPair)}, signed with {@code signer} (another key makes an invalid request). */
  public static String stub(KeyPair keys, java.security.PrivateKey signer) {
    String algorithm = switch (keys.getPublic().getAlgorithm()) {
      case "EC" -> switch (((java.security.interfaces.ECPublicKey) keys.getPublic()).getParams().getCurve()
          .getField().getFieldSize()) {
        case 256 -> "SHA256withECDSA";
        case 384 -> "SHA384withECDSA";
        default -> "SHA512withECDSA";
      };
      case "RSA" -> "SHA256withRSA";
      default -> "Ed25519";
    };
    try {
      return Base64.getEncoder().encodeToString(new JcaPKCS10CertificationRequestBuilder(
          new X500Name(new org.bouncycastle.asn1.x500.RDN[0]), keys.getPublic())
          .build(new JcaContentSignerBuilder(algorithm).build(signer)).getEncoded());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  /** A request object of {@code version} with {@code spec}, named {@code req-<random>} by the API server. */
  public static GenericKubernetesResource request(String version, String namespace, Map<String, Object> spec) {
    GenericKubernetesResource r = new GenericKubernetesResourceBuilder()
        .withApiVersion(CertificatesApi.apiVersion(version)).withKind("PodCertificateRequest")
        .withNewMetadata().withGenerateName("req-").withNamespace(namespace).endMetadata().build();
    r.setAdditionalProperty("spec", new LinkedHashMap<>(spec));
    return r;
  }

  /** {@code spec.<field>} as text, or null. */
  public static String spec(GenericKubernetesResource r, String field) {
    Object spec = r.getAdditionalProperties().get("spec");
    Object value = spec instanceof Map<?, ?> m ? m.get(field) : null;
    return value == null ? null : value.toString();
  }

  /** {@code status.<field>} as text, or null. */
  public static String status(GenericKubernetesResource r, String field) {
    Object status = r.getAdditionalProperties().get("status");
    Object value = status instanceof Map<?, ?> m ? m.get(field) : null;
    return value == null ? null : value.toString();
  }

  /** {@code status.conditions}, possibly empty. */
  public static List<Condition> conditions(GenericKubernetesResource r) {
    Object status = r.getAdditionalProperties().get("status");
    Object conditions = status instanceof Map<?, ?> m ? m.get("conditions") : null;
    if (!(conditions instanceof List<?> list)) {
      return List.of();
    }
    return list.stream().map(c -> {
      Map<?, ?> m = (Map<?, ?>) c;
      Condition condition = new Condition();
      condition.setType((String) m.get("type"));
      condition.setStatus((String) m.get("status"));
      condition.setReason((String) m.get("reason"));
      condition.setMessage((String) m.get("message"));
      condition.setLastTransitionTime((String) m.get("lastTransitionTime"));
      return condition;
    }).toList();
  }
}
