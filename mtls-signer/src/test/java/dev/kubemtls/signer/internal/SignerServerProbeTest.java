package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The probe endpoint over real sockets: clients that hold half-sent requests, a scrape that hangs and
 * a flood of connections do not keep {@code /livez} from answering.
 */
class SignerServerProbeTest {

  private static final InetSocketAddress LOOPBACK = new InetSocketAddress("127.0.0.1", 0);

  @Test
  void clientsHoldingHalfSentRequestsDoNotDelayLivez() throws Exception {
    CountDownLatch scrapeEntered = new CountDownLatch(1);
    CountDownLatch releaseScrape = new CountDownLatch(1);
    try (SignerServer server = SignerServer.start(LOOPBACK, () -> false, Optional::empty, () -> true, () -> {
      // A scrape that hangs: it must hold only the metrics thread.
      scrapeEntered.countDown();
      await(releaseScrape);
      return "x 1\n";
    })) {
      List<Socket> holders = new ArrayList<>();
      try {
        // Sixteen clients each send half a request and wait; the old server had two threads.
        for (int i = 0; i < 16; i++) {
          Socket s = new Socket("127.0.0.1", server.address().getPort());
          s.getOutputStream().write("GET /livez HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
          s.getOutputStream().flush();
          holders.add(s);
        }
        Socket scrape = new Socket("127.0.0.1", server.address().getPort());
        holders.add(scrape);
        scrape.getOutputStream().write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        assertThat(scrapeEntered.await(10, TimeUnit.SECONDS)).isTrue();

        long start = System.nanoTime();
        HttpResponse<String> livez = Scrape.request(server.address(), "GET", "/livez");
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(livez.statusCode()).isEqualTo(200);
        assertThat(livez.body()).isEqualTo("ok\n");
        HttpResponse<String> readyz = Scrape.request(server.address(), "GET", "/readyz");
        assertThat(readyz.body()).isEqualTo("ok: leader\n");
        // What issue 24 asks: not delayed beyond a second (it answers in milliseconds).
        assertThat(took).isLessThan(Duration.ofSeconds(1));

        releaseScrape.countDown();
        assertThat(new String(scrape.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
            .startsWith("HTTP/1.1 200 OK\r\n").endsWith("\r\n\r\nx 1\n");
      } finally {
        releaseScrape.countDown();
        for (Socket s : holders) {
          s.close();
        }
      }
    }
  }

  @Test
  void aHalfSentRequestIsClosedAfterTheRequestTimeout() throws Exception {
    try (SignerServer server = SignerServer.start(LOOPBACK, () -> false, Optional::empty, () -> false, () -> "");
        Socket s = new Socket("127.0.0.1", server.address().getPort())) {
      s.getOutputStream().write("GET /livez HTTP/1.1\r\n".getBytes(StandardCharsets.US_ASCII));
      s.setSoTimeout((int) Duration.ofSeconds(30).toMillis());
      long start = System.nanoTime();
      // The server closes without an answer: end of stream.
      assertThat(s.getInputStream().read()).isEqualTo(-1);
      assertThat(Duration.ofNanos(System.nanoTime() - start))
          .isLessThan(HttpEndpoint.REQUEST_TIMEOUT.plusSeconds(5));
    }
  }

  @Test
  void aFloodOfConnectionsIsCappedAndLivezStillAnswers() throws Exception {
    try (SignerServer server = SignerServer.start(LOOPBACK, () -> false, Optional::empty, () -> false, () -> "")) {
      List<Socket> flood = new ArrayList<>();
      try {
        for (int i = 0; i < 200; i++) {
          flood.add(new Socket("127.0.0.1", server.address().getPort()));
        }
        assertThat(Scrape.request(server.address(), "GET", "/livez").body()).isEqualTo("ok\n");
        // The oldest connections were closed to keep at most 64 open.
        Socket first = flood.get(0);
        first.setSoTimeout(10_000);
        assertThat(first.getInputStream().read()).isEqualTo(-1);
      } finally {
        for (Socket s : flood) {
          s.close();
        }
      }
    }
  }

  @Test
  void answersFollowHttp() throws Exception {
    AtomicBoolean closed = new AtomicBoolean();
    try (SignerServer server = SignerServer.start(LOOPBACK, closed::get, () -> Optional.of("the CSR informer has"
        + " not synced yet"), () -> true, () -> "m 1\n")) {
      assertThat(Scrape.request(server.address(), "GET", "/readyz")).satisfies(r -> {
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.body()).isEqualTo("not ready: the CSR informer has not synced yet\n");
      });
      assertThat(Scrape.request(server.address(), "HEAD", "/livez")).satisfies(r -> {
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).isEmpty();
        assertThat(r.headers().firstValue("Content-Length")).contains("3");
      });
      assertThat(Scrape.request(server.address(), "POST", "/livez")).satisfies(r -> {
        assertThat(r.statusCode()).isEqualTo(405);
        assertThat(r.headers().firstValue("Allow")).contains("GET, HEAD");
      });
      assertThat(Scrape.request(server.address(), "GET", "/nope").statusCode()).isEqualTo(404);
      assertThat(Scrape.request(server.address(), "GET", "/metrics?x=1").body()).isEqualTo("m 1\n");
      closed.set(true);
      assertThat(Scrape.request(server.address(), "GET", "/livez").statusCode()).isEqualTo(503);
      try (Socket s = new Socket("127.0.0.1", server.address().getPort())) {
        OutputStream out = s.getOutputStream();
        // Exactly the limit, without the blank line that ends a head: the server reads it all, then refuses.
        String start = "GET /livez HTTP/1.1\r\nX: ";
        out.write((start + "a".repeat(HttpEndpoint.MAX_HEAD_BYTES - start.length()))
            .getBytes(StandardCharsets.US_ASCII));
        InputStream in = s.getInputStream();
        assertThat(new String(in.readAllBytes(), StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 431 ");
      }
    }
  }

  private static void await(CountDownLatch latch) {
    try {
      latch.await(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
