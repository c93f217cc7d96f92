package dev.kubemtls.signer.internal;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.fabric8.kubernetes.api.model.Status;
import io.fabric8.kubernetes.api.model.certificates.v1.CertificateSigningRequestCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.http.HttpClient;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.HttpResponse;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The controller's writes to a CSR's {@code /approval} and {@code /status} subresources, sent as JSON
 * merge patches that carry the resourceVersion of the copy that was checked.
 *
 * <p>The resourceVersion in the patch is a precondition: the API server applies the patch to the
 * stored object and refuses the result with 409 Conflict when the stored object's resourceVersion
 * differs, exactly as for an update of the whole object. Unlike an update, the request carries only
 * what changes (the conditions, or the certificate) and the answer is asked for as metadata only and
 * not decoded into an object: only its new resourceVersion is read, with a streaming parser. Everything else of the CSR (its labels,
 * annotations, owners, spec) is left as the API server holds it.
 *
 * <p>Errors come back as {@link KubernetesClientException} with the HTTP status code and the API
 * server's {@code Status}, like those of the fabric8 DSL; a transport failure has code 0.
 */
final class CsrWrites {

  private static final JsonFactory JSON = new JsonFactory();
  private static final String MERGE_PATCH = "application/merge-patch+json";
  /**
   * The answer as the CSR's metadata only ({@code PartialObjectMetadata}): only its resourceVersion is
   * read, and the whole object (request, certificate) need not be encoded, sent and scanned. A server
   * that cannot transform the answer sends the whole object, which is read the same way.
   */
  static final String ANSWER = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

  private final HttpClient http;
  private final KubernetesSerialization serialization;
  private final String base;
  private final long timeoutMillis;

  CsrWrites(KubernetesClient client) {
    this.http = client.getHttpClient();
    this.serialization = client.getKubernetesSerialization();
    String master = client.getMasterUrl().toString();
    this.base = (master.endsWith("/") ? master : master + "/") + "apis/certificates.k8s.io/v1/certificatesigningrequests/";
    int configured = client.getConfiguration().getRequestTimeout();
    this.timeoutMillis = configured > 0 ? configured : 10_000;
  }

  /**
   * Replaces the CSR's conditions through {@code /approval}; {@code conditions} are the checked copy's
   * followed by the verdict. Returns the CSR's new resourceVersion.
   */
  String approval(String name, String resourceVersion, List<CertificateSigningRequestCondition> conditions) {
    return patch(name, "approval", body(resourceVersion, null, conditions));
  }

  /** Sets {@code status.certificate} (base64 of the PEM chain) through {@code /status}. */
  String certificate(String name, String resourceVersion, String certificateBase64) {
    return patch(name, "status", body(resourceVersion, certificateBase64, null));
  }

  /** Replaces the conditions through {@code /status} (the checked copy's followed by {@code Failed}). */
  String failure(String name, String resourceVersion, List<CertificateSigningRequestCondition> conditions) {
    return patch(name, "status", body(resourceVersion, null, conditions));
  }

  static String body(String resourceVersion, String certificate, List<CertificateSigningRequestCondition> conditions) {
    if (resourceVersion == null || resourceVersion.isEmpty()) {
      // Without it the patch would apply to whatever the API server holds: never write unconditionally.
      throw new IllegalArgumentException("a CSR write needs the resourceVersion of the checked copy");
    }
    StringWriter out = new StringWriter(certificate == null ? 512 : certificate.length() + 128);
    try (JsonGenerator g = JSON.createGenerator(out)) {
      g.writeStartObject();
      g.writeObjectFieldStart("metadata");
      g.writeStringField("resourceVersion", resourceVersion);
      g.writeEndObject();
      g.writeObjectFieldStart("status");
      if (certificate != null) {
        g.writeStringField("certificate", certificate);
      }
      if (conditions != null) {
        g.writeArrayFieldStart("conditions");
        for (CertificateSigningRequestCondition c : conditions) {
          g.writeStartObject();
          field(g, "type", c.getType());
          field(g, "status", c.getStatus());
          field(g, "reason", c.getReason());
          field(g, "message", c.getMessage());
          field(g, "lastUpdateTime", c.getLastUpdateTime());
          field(g, "lastTransitionTime", c.getLastTransitionTime());
          g.writeEndObject();
        }
        g.writeEndArray();
      }
      g.writeEndObject();
      g.writeEndObject();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toString();
  }

  private static void field(JsonGenerator g, String name, String value) throws IOException {
    if (value != null) {
      g.writeStringField(name, value);
    }
  }

  private String patch(String name, String subresource, String body) {
    HttpRequest request = http.newHttpRequestBuilder()
        .uri(base + URLEncoder.encode(name, StandardCharsets.UTF_8) + "/" + subresource)
        .header("Accept", ANSWER)
        .timeout(timeoutMillis, TimeUnit.MILLISECONDS)
        .patch(MERGE_PATCH, body)
        .build();
    HttpResponse<byte[]> response;
    try {
      response = http.sendAsync(request, byte[].class).get(timeoutMillis + 1_000, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KubernetesClientException("interrupted while writing CSR " + name + "/" + subresource, e);
    } catch (ExecutionException e) {
      throw new KubernetesClientException("cannot write CSR " + name + "/" + subresource + ": " + e.getCause(),
          e.getCause());
    } catch (TimeoutException e) {
      throw new KubernetesClientException("no answer within " + timeoutMillis + " ms writing CSR " + name + "/"
          + subresource, e);
    }
    byte[] answer = response.body() == null ? new byte[0] : response.body();
    if (!response.isSuccessful()) {
      throw refusal(name, subresource, response.code(), answer);
    }
    String resourceVersion = resourceVersionOf(answer);
    if (resourceVersion == null) {
      // The write went through; without the new version the next write would be unconditional.
      throw new KubernetesClientException("the API server answered the write of CSR " + name + "/" + subresource
          + " without metadata.resourceVersion", 500, null);
    }
    return resourceVersion;
  }

  private KubernetesClientException refusal(String name, String subresource, int code, byte[] answer) {
    Status status = null;
    try {
      status = serialization.unmarshal(new String(answer, StandardCharsets.UTF_8), Status.class);
    } catch (RuntimeException notAStatus) {
      // A proxy's page or an empty body: the code alone tells what happened.
    }
    String why = status != null && status.getMessage() != null ? status.getMessage() : "HTTP " + code;
    return new KubernetesClientException("writing CSR " + name + "/" + subresource + " was refused: " + why, code,
        status);
  }

  /** {@code metadata.resourceVersion} of a JSON object, read without building the object. */
  static String resourceVersionOf(byte[] json) {
    try (JsonParser p = JSON.createParser(json)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken value = p.nextToken();
        if ("metadata".equals(field) && value == JsonToken.START_OBJECT) {
          while (p.nextToken() == JsonToken.FIELD_NAME) {
            String inner = p.currentName();
            JsonToken v = p.nextToken();
            if ("resourceVersion".equals(inner) && v == JsonToken.VALUE_STRING) {
              return p.getText();
            }
            p.skipChildren();
          }
          return null;
        }
        p.skipChildren();
      }
      return null;
    } catch (IOException e) {
      return null;
    }
  }
}
