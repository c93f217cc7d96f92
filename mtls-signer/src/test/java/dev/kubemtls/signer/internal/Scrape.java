package dev.kubemtls.signer.internal;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/** Real HTTP requests to a {@link SignerServer}, and a reader of the Prometheus text format. */
final class Scrape {

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private Scrape() {}

  /** {@code method path} against {@code address}: the status and body. */
  static HttpResponse<String> request(InetSocketAddress address, String method, String path) {
    try {
      return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + address.getPort() + path))
          .method(method, HttpRequest.BodyPublishers.noBody()).timeout(Duration.ofSeconds(10)).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Every sample of {@code GET /metrics}, keyed by {@code name} or {@code name{labels}} as written. */
  static Map<String, Double> metrics(InetSocketAddress address) {
    HttpResponse<String> response = request(address, "GET", "/metrics");
    if (response.statusCode() != 200) {
      throw new AssertionError("/metrics answered " + response.statusCode() + ": " + response.body());
    }
    Map<String, Double> samples = new LinkedHashMap<>();
    for (String line : response.body().split("\n")) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      int space = line.lastIndexOf(' ');
      samples.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
    }
    return samples;
  }
}
