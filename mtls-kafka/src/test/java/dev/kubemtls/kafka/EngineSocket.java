package dev.kubemtls.kafka;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;

/**
 * One TLS connection driven through an {@link SSLEngine} over a blocking socket, the way Kafka's
 * {@code SslTransportLayer} drives the engines of its {@code ssl.engine.factory.class} (wrap,
 * unwrap, delegated tasks), with lines of text as the application protocol. A failed engine's alert
 * is sent to the peer before the failure is thrown.
 */
final class EngineSocket implements AutoCloseable {

  private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

  private final Socket socket;
  private final SSLEngine engine;
  private final InputStream in;
  private final OutputStream out;
  private final byte[] chunk = new byte[16 * 1024];
  /** Received TLS records, in write mode. */
  private ByteBuffer netIn;
  private ByteBuffer netOut;
  /** Decrypted application bytes, in write mode. */
  private ByteBuffer appIn;

  EngineSocket(Socket socket, SSLEngine engine) throws IOException {
    this.socket = socket;
    this.engine = engine;
    socket.setSoTimeout(10_000);
    this.in = socket.getInputStream();
    this.out = socket.getOutputStream();
    int packet = engine.getSession().getPacketBufferSize();
    this.netIn = ByteBuffer.allocate(packet);
    this.netOut = ByteBuffer.allocate(packet);
    this.appIn = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize());
  }

  /** Completes the handshake, or throws the engine's failure after sending its alert. */
  void handshake() throws IOException {
    engine.beginHandshake();
    guarded(() -> {
      while (step(engine.getHandshakeStatus())) {
        // until neither side of the handshake has anything left to do
      }
    });
  }

  /** Sends {@code line} and a newline. */
  void writeLine(String line) throws IOException {
    ByteBuffer src = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
    guarded(() -> {
      while (src.hasRemaining()) {
        wrap(src);
      }
    });
  }

  /** The next line, or null if the peer closed the connection first. */
  String readLine() throws IOException {
    String[] line = new String[1];
    guarded(() -> {
      while (true) {
        appIn.flip();
        for (int i = appIn.position(); i < appIn.limit(); i++) {
          if (appIn.get(i) == '\n') {
            byte[] bytes = new byte[i - appIn.position()];
            appIn.get(bytes);
            appIn.get();
            appIn.compact();
            line[0] = new String(bytes, StandardCharsets.UTF_8).stripTrailing();
            return;
          }
        }
        appIn.compact();
        SSLEngineResult r = unwrap();
        if (r == null || r.getStatus() == SSLEngineResult.Status.CLOSED) {
          return;
        }
        // Post-handshake messages (TLS 1.3 session tickets, key updates) may ask for more.
        while (step(engine.getHandshakeStatus())) {
          // the handshake messages of a key update
        }
      }
    });
    return line[0];
  }

  /** Does what the handshake status asks; false once there is nothing to do. */
  private boolean step(HandshakeStatus status) throws IOException {
    switch (status) {
      case NEED_WRAP -> wrap(EMPTY);
      case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
        if (unwrap() == null) {
          throw new EOFException("the peer closed the connection during the handshake");
        }
      }
      case NEED_TASK -> {
        for (Runnable task = engine.getDelegatedTask(); task != null; task = engine.getDelegatedTask()) {
          task.run();
        }
      }
      default -> {
        return false;
      }
    }
    return true;
  }

  private SSLEngineResult wrap(ByteBuffer src) throws IOException {
    while (true) {
      netOut.clear();
      SSLEngineResult r = engine.wrap(src, netOut);
      if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
        netOut = ByteBuffer.allocate(netOut.capacity() * 2);
        continue;
      }
      netOut.flip();
      out.write(netOut.array(), 0, netOut.limit());
      out.flush();
      return r;
    }
  }

  /** Unwraps one record, reading from the socket as needed; null at the end of the stream. */
  private SSLEngineResult unwrap() throws IOException {
    while (true) {
      netIn.flip();
      SSLEngineResult r;
      try {
        r = engine.unwrap(netIn, appIn);
      } finally {
        netIn.compact();
      }
      switch (r.getStatus()) {
        case BUFFER_UNDERFLOW -> {
          int n = in.read(chunk);
          if (n < 0) {
            return null;
          }
          if (netIn.remaining() < n) {
            ByteBuffer bigger = ByteBuffer.allocate(netIn.position() + n + netIn.capacity());
            netIn.flip();
            bigger.put(netIn);
            netIn = bigger;
          }
          netIn.put(chunk, 0, n);
        }
        case BUFFER_OVERFLOW -> {
          ByteBuffer bigger = ByteBuffer.allocate(appIn.capacity() * 2);
          appIn.flip();
          bigger.put(appIn);
          appIn = bigger;
        }
        default -> {
          return r;
        }
      }
    }
  }

  private interface Io {
    void run() throws IOException;
  }

  /** Runs {@code io}; on an engine failure sends the alert the engine has for the peer, then throws. */
  private void guarded(Io io) throws IOException {
    try {
      io.run();
    } catch (SSLException e) {
      try {
        engine.closeOutbound();
        for (int i = 0; i < 4 && !engine.isOutboundDone(); i++) {
          wrap(EMPTY);
        }
      } catch (IOException ignored) {
        // the peer may be gone already; the engine's failure is what matters
      }
      throw e;
    }
  }

  /** Sends close_notify (if the engine can) and closes the socket. */
  @Override
  public void close() {
    try {
      engine.closeOutbound();
      for (int i = 0; i < 4 && !engine.isOutboundDone(); i++) {
        wrap(EMPTY);
      }
    } catch (IOException ignored) {
      // closing anyway
    }
    try {
      socket.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }
}
