package dev.kubemtls.testkit;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.http.AsyncBody;
import io.fabric8.kubernetes.client.http.BasicBuilder;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.HttpResponse;
import io.fabric8.kubernetes.client.http.Interceptor;
import io.fabric8.kubernetes.client.http.WebSocket;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Objects;
import java.util.function.ObjIntConsumer;

/**
 * A fabric8 client that reports its HTTP traffic: a new client with a copy of another client's
 * configuration (same server, same credentials) that tells a {@link Recorder} of each request when
 * it is sent and of each answer with its status code, for tests that count what the code under
 * test asks the API server. The caller closes the client it gets; the original is left as it was.
 *
 * <p>A request is reported before it goes out, so a request that was sent is in the record by the
 * time anything could have answered it. An answer is reported when its status line and headers
 * have arrived, on fabric8's thread and possibly after the caller already holds the response: wait
 * for an answer (Awaitility), do not assume it is recorded when the call returns. A request that
 * fabric8 repeats (a retry after a 5xx or 429, a token refresh after a 401) may be reported again.
 */
public final class RecordingClient {

  private static final String INTERCEPTOR_NAME = "kube-mtls-testkit-recorder";

  private RecordingClient() {}

  /**
   * One request as sent.
   *
   * @param method    the HTTP method ({@code GET}, {@code POST}, ...), as fabric8 reports it
   * @param path      the path of the URI (decoded), without the query
   * @param query     the raw query, empty when there is none
   * @param webSocket whether the request is a WebSocket upgrade (fabric8's watches when they do not
   *                  use HTTP streams); in {@link Recorder#answered} true only for a 101 answer
   */
  public record Request(String method, String path, String query, boolean webSocket) {

    public Request {
      Objects.requireNonNull(path, "path");
      Objects.requireNonNull(query, "query");
    }

    /** Whether it asks for a watch: {@code watch=true} in the query. */
    public boolean watch() {
      return query.contains("watch=true");
    }

    /** {@code WEBSOCKET} for an upgrade, else {@code WATCH} for a watch, else the method. */
    public String kind() {
      return webSocket ? "WEBSOCKET" : watch() ? "WATCH" : method;
    }

    /** {@code "<kind> <path>"}, e.g. {@code "WATCH /api/v1/namespaces/a/configmaps"}. */
    @Override
    public String toString() {
      return kind() + " " + path;
    }

    static Request of(HttpRequest request, boolean webSocket) {
      String query = request.uri().getRawQuery();
      return new Request(request.method(), request.uri().getPath(), query == null ? "" : query, webSocket);
    }
  }

  /** Told of a recording client's traffic, from fabric8's threads (keep it short and thread-safe). */
  @FunctionalInterface
  public interface Recorder {

    /** A request is about to be sent. */
    void sent(Request request);

    /** The answer to {@code request} arrived with {@code status}. Nothing by default. */
    default void answered(Request request, int status) {}

    /** A recorder of answers only: {@code answers} gets each request with its status. */
    static Recorder answers(ObjIntConsumer<Request> answers) {
      Objects.requireNonNull(answers, "answers");
      return new Recorder() {
        @Override
        public void sent(Request request) {}

        @Override
        public void answered(Request request, int status) {
          answers.accept(request, status);
        }
      };
    }
  }

  /** A new client with {@code client}'s configuration that reports to {@code recorder}. */
  public static KubernetesClient of(KubernetesClient client, Recorder recorder) {
    return of(Objects.requireNonNull(client, "client").getConfiguration(), recorder);
  }

  /** A new client with {@code config} that reports to {@code recorder}. */
  public static KubernetesClient of(Config config, Recorder recorder) {
    Objects.requireNonNull(config, "config");
    Interceptor interceptor = interceptor(Objects.requireNonNull(recorder, "recorder"));
    return new KubernetesClientBuilder().withConfig(config)
        .withHttpClientBuilderConsumer(b -> b.addOrReplaceInterceptor(INTERCEPTOR_NAME, interceptor)).build();
  }

  private static Interceptor interceptor(Recorder recorder) {
    return new Interceptor() {
      @Override
      public void before(BasicBuilder builder, HttpRequest request, RequestTags tags) {
        recorder.sent(Request.of(request, builder instanceof WebSocket.Builder));
      }

      @Override
      public void after(HttpRequest request, HttpResponse<?> response, AsyncBody.Consumer<List<ByteBuffer>> consumer) {
        if (request != null) {
          recorder.answered(Request.of(request, response.code() == 101), response.code());
        }
      }
    };
  }
}
