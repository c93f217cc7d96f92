package dev.kubemtls.spring;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.tls.MtlsSslContexts;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLSocket;

/**
 * Kept-alive requests on one raw TLS connection to a starter's server, as a given caller, to see
 * when the server ends the connection: on the next request ({@code Connection: close}) or on its
 * own while the connection is idle (close_notify, read as the end of the stream).
 */
final class ConnectionBoundProbe {

  private ConnectionBoundProbe() {}

  private static SSLSocket connect(MtlsApp app, MaterialSource caller) throws Exception {
    SSLSocket socket = (SSLSocket) MtlsSslContexts.following(caller).getSocketFactory()
        .createSocket("127.0.0.1", app.port);
    socket.setSoTimeout(15_000);
    socket.startHandshake();
    return socket;
  }

  private static byte[] get(String path) {
    return ("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII);
  }

  private static String readOne(InputStream in) throws Exception {
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

  /**
   * Sends one GET as {@code caller}, reads the response, runs {@code between} (which waits for the
   * bound to pass), sends a second GET on the same connection and reads until the server closes the
   * connection (a read timeout, 15 s, if it stays open). Returns both responses.
   */
  static String[] twoRequests(MtlsApp app, MaterialSource caller, String path, Runnable between) throws Exception {
    try (SSLSocket socket = connect(app, caller)) {
      socket.getOutputStream().write(get(path));
      socket.getOutputStream().flush();
      InputStream in = socket.getInputStream();
      String first = readOne(in);
      between.run();
      socket.getOutputStream().write(get(path));
      socket.getOutputStream().flush();
      ByteArrayOutputStream second = new ByteArrayOutputStream();
      byte[] buffer = new byte[4096];
      for (int n; (n = in.read(buffer)) >= 0; ) {
        second.write(buffer, 0, n);
      }
      return new String[] {first, second.toString(StandardCharsets.UTF_8)};
    }
  }

  /**
   * Sends one GET as {@code caller}, reads the response, runs {@code after}, then sends nothing and
   * waits until the server closes the connection with close_notify (the end of the stream; a read
   * timeout, 15 s, if it stays open). Returns the first response and when the close was read.
   */
  static Closed closedWhileIdle(MtlsApp app, MaterialSource caller, String path, Runnable after) throws Exception {
    try (SSLSocket socket = connect(app, caller)) {
      socket.getOutputStream().write(get(path));
      socket.getOutputStream().flush();
      InputStream in = socket.getInputStream();
      String first = readOne(in);
      after.run();
      int next = in.read();
      if (next >= 0) {
        throw new AssertionError("the server sent more after its response: " + (char) next);
      }
      return new Closed(first, Instant.now());
    }
  }

  record Closed(String response, Instant at) {}

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
