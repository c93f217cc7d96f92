package dev.kubemtls.core.testing;

import java.nio.ByteBuffer;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLSession;

/**
 * A real TLS handshake between two {@link SSLEngine}s in memory: every record one side wraps is
 * unwrapped by the other, including the alert a failing side sends, until both are done or both
 * have failed. Then one application message goes from the client to the server, so that a TLS 1.3
 * server's refusal of the client's certificate (which the client learns only after its own side of
 * the handshake) shows on the client too.
 */
public final class EnginePair {

  /**
   * What each side saw: its failure (null if none), whether the peer closed the connection (a
   * close_notify), and, if it succeeded, its session.
   */
  public record Outcome(SSLException client, SSLException server, boolean clientClosedByPeer,
      SSLSession clientSession, SSLSession serverSession) {
    public boolean succeeded() {
      return client == null && server == null && !clientClosedByPeer;
    }
  }

  private final SSLEngine client;
  private final SSLEngine server;
  private final ByteBuffer toServer = ByteBuffer.allocate(1 << 17);
  private final ByteBuffer toClient = ByteBuffer.allocate(1 << 17);
  private final ByteBuffer appIn = ByteBuffer.allocate(1 << 17);
  private SSLException clientFailure;
  private SSLException serverFailure;

  private EnginePair(SSLEngine client, SSLEngine server) {
    this.client = client;
    this.server = server;
  }

  /** Runs the handshake and one message from the client; engines must be fresh. */
  public static Outcome run(SSLEngine client, SSLEngine server) {
    client.setUseClientMode(true);
    server.setUseClientMode(false);
    EnginePair p = new EnginePair(client, server);
    p.pump();
    if (p.clientFailure == null && p.serverFailure == null) {
      p.send("hello");
      p.pump();
    }
    return new Outcome(p.clientFailure, p.serverFailure, client.isInboundDone(),
        p.clientFailure == null ? client.getSession() : null,
        p.serverFailure == null ? server.getSession() : null);
  }

  private void send(String text) {
    try {
      client.wrap(ByteBuffer.wrap(text.getBytes(java.nio.charset.StandardCharsets.UTF_8)), toServer);
    } catch (SSLException e) {
      clientFailure = e;
    }
  }

  private void pump() {
    for (int round = 0; round < 200; round++) {
      boolean progress = false;
      progress |= step(client, true);
      progress |= step(server, false);
      if (!progress) {
        return;
      }
    }
    throw new AssertionError("the handshake did not settle in 200 rounds");
  }

  /** Wraps what {@code engine} has to send and unwraps what it received; whether anything moved. */
  private boolean step(SSLEngine engine, boolean isClient) {
    ByteBuffer out = isClient ? toServer : toClient;
    ByteBuffer in = isClient ? toClient : toServer;
    boolean progress = false;
    try {
      for (int i = 0; i < 20; i++) {
        HandshakeStatus hs = engine.getHandshakeStatus();
        if (hs == HandshakeStatus.NEED_TASK) {
          Runnable task;
          while ((task = engine.getDelegatedTask()) != null) {
            task.run();
          }
          progress = true;
        } else if (hs == HandshakeStatus.NEED_WRAP || (engine.isInboundDone() && !engine.isOutboundDone())) {
          SSLEngineResult r = engine.wrap(ByteBuffer.allocate(0), out);
          progress |= r.bytesProduced() > 0;
          if (r.bytesProduced() == 0) {
            break;
          }
        } else {
          break;
        }
      }
      in.flip();
      try {
        while (in.hasRemaining()) {
          SSLEngineResult r = engine.unwrap(in, appIn);
          progress |= r.bytesConsumed() > 0;
          if (r.getStatus() != SSLEngineResult.Status.OK || r.bytesConsumed() == 0) {
            break;
          }
          if (r.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
            Runnable task;
            while ((task = engine.getDelegatedTask()) != null) {
              task.run();
            }
          }
        }
      } finally {
        in.compact();
      }
    } catch (SSLException e) {
      if (isClient && clientFailure == null) {
        clientFailure = e;
        progress = true;
      } else if (!isClient && serverFailure == null) {
        serverFailure = e;
        progress = true;
      }
      // Let the failed side send its alert.
      try {
        engine.closeOutbound();
        engine.wrap(ByteBuffer.allocate(0), out);
      } catch (SSLException ignored) {
        // nothing more to send
      }
    }
    return progress;
  }
}
