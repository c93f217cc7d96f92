package dev.kubemtls.spring;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.tls.MtlsSslContexts;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLSocket;

/**
 * Kept-alive requests on one raw TLS connection to a starter's server, as a given caller, to see
 * when the server ends the connection: on the next request ({@code Connection: close}) or on its
 * own while the connection is idle (close_notify, read as the end of the stream). The one place the
 * Spring tests speak HTTP/1.1 on a socket of their own.
 */
final class ConnectionBoundProbe {

  private ConnectionBoundProbe() {}

  /** A TLS connection to {@code app} as {@code caller}, handshake done, reads timing out after 15 s. */
  static SSLSocket connect(MtlsApp app, MaterialSource caller) throws Exception {
    SSLSocket socket = (SSLSocket) MtlsSslContexts.following(caller).getSocketFactory()
        .createSocket("127.0.0.1", app.port);
    socket.setSoTimeout(15_000);
    socket.startHandshake();
    return socket;
  }

  private static void send(SSLSocket socket, String path) throws Exception {
    socket.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII));
    socket.getOutputStream().flush();
  }

  /** Sends a kept-alive GET of {@code path} on {@code socket} and reads its whole response. */
  static String get(SSLSocket socket, String path) throws Exception {
    send(socket, path);
    InputStream in = socket.getInputStream();
    StringBuilder response = new StringBuilder();
    while (!complete(response)) {
      int b = in.read();
      if (b < 0) {
        throw new EOFException("the server closed the connection before its response ended: " + response);
      }
      response.append((char) b);
    }
    return response.toString();
  }

  /** Reads, sending nothing, until the server closes; fails on a byte or a read timeout (15 s). */
  static void assertClosedByTheServer(SSLSocket socket) throws Exception {
    int next;
    try {
      next = socket.getInputStream().read();
    } catch (SocketTimeoutException e) {
      throw new AssertionError("the server kept the connection open for 15 s", e);
    }
    if (next >= 0) {
      throw new AssertionError("the server sent more after its response: " + (char) next);
    }
  }

  /**
   * Sends one GET as {@code caller}, reads the response, runs {@code between} (which waits for the
   * bound to pass), sends a second GET on the same connection and reads until the server closes the
   * connection (a read timeout, 15 s, if it stays open). Returns both responses.
   */
  static String[] twoRequests(MtlsApp app, MaterialSource caller, String path, Runnable between) throws Exception {
    try (SSLSocket socket = connect(app, caller)) {
      String first = get(socket, path);
      between.run();
      return new String[] {first, lastUntilClosed(socket, path)};
    }
  }

  /**
   * As {@link #twoRequests}, as the app's frontend, the second request sent {@code sinceHandshake}
   * after the client's side of the handshake completed (the server's completes a moment later):
   * for a bound that is due a fixed time after the server's handshake, whatever the first request
   * took.
   */
  static String[] twoRequestsAfterHandshake(MtlsApp app, String path, Duration sinceHandshake) throws Exception {
    try (SSLSocket socket = connect(app, app.frontend)) {
      Instant handshake = Instant.now();
      String first = get(socket, path);
      ConnectionBounds.awaitPast(handshake.plus(sinceHandshake));
      return new String[] {first, lastUntilClosed(socket, path)};
    }
  }

  /** Sends a GET of {@code path} and reads until the server closes the connection. */
  private static String lastUntilClosed(SSLSocket socket, String path) throws Exception {
    send(socket, path);
    ByteArrayOutputStream second = new ByteArrayOutputStream();
    byte[] buffer = new byte[4096];
    for (int n; (n = socket.getInputStream().read(buffer)) >= 0; ) {
      second.write(buffer, 0, n);
    }
    return second.toString(StandardCharsets.UTF_8);
  }

  /** As {@link #twoRequests}, as the app's frontend, the second request {@code gap} after the first response. */
  static String[] twoRequests(MtlsApp app, String path, Duration gap) throws Exception {
    return twoRequests(app, app.frontend, path, () -> ConnectionBounds.awaitPast(Instant.now().plus(gap)));
  }

  /**
   * Sends one GET as {@code caller}, reads the response, runs {@code after}, then sends nothing and
   * waits until the server closes the connection with close_notify (the end of the stream; a read
   * timeout, 15 s, if it stays open). Returns the first response and when the close was read.
   */
  static Closed closedWhileIdle(MtlsApp app, MaterialSource caller, String path, Runnable after) throws Exception {
    try (SSLSocket socket = connect(app, caller)) {
      String first = get(socket, path);
      after.run();
      assertClosedByTheServer(socket);
      return new Closed(first, Instant.now());
    }
  }

  record Closed(String response, Instant at) {}

  /** Whether {@code r} holds one whole HTTP/1.1 response (Content-Length or chunked). */
  private static boolean complete(StringBuilder r) {
    int end = r.indexOf("\r\n\r\n");
    if (end < 0) {
      return false;
    }
    String head = r.substring(0, end).toLowerCase(Locale.ROOT);
    Matcher length = Pattern.compile("content-length: *(\\d+)").matcher(head);
    if (length.find()) {
      return r.length() >= end + 4 + Integer.parseInt(length.group(1));
    }
    return r.toString().endsWith("0\r\n\r\n");
  }
}
