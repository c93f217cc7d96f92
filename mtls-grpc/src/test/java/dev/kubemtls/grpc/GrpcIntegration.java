package dev.kubemtls.grpc;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.OutsidePeer;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import dev.kubemtls.netty.TlsProvider;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * The conformance suite's view of mtls-grpc: a gRPC server from {@link GrpcServerTls#newServerBuilder}
 * with one unary method ({@code conformance.Probe/Call}, answering {@value #OK}), and a channel from
 * {@link GrpcClientTls#newChannelBuilder}, a new channel (so a new connection) per call.
 *
 * <p>How gRPC differs from the line-speaking integrations, and how the suite's cases map onto it:
 *
 * <ul>
 *   <li>Outside peers speak HTTP/2 (ALPN {@code h2}, which a gRPC server requires): the
 *       {@link #ask conversation} writes the connection preface, a SETTINGS frame and one call to
 *       {@code conformance.Probe/Call} (HPACK without Huffman coding, no dynamic table), then reads
 *       frames until the answer's DATA frame, whose message stands for the first line. A call the
 *       server refuses ends with trailers only (no DATA), a refused connection with an alert.
 *   <li>The server applies its {@link PeerPolicy} per call in its interceptor ({@code
 *       PERMISSION_DENIED} and {@code requestRefused}), after a handshake that succeeded and was
 *       reported as such; unknown CAs, expired certificates and a missing client certificate are
 *       still refused in the handshake. So the refusal case for a certificate without a SPIFFE ID
 *       checks a refused call with {@code requestRefused(PEER_NOT_ALLOWED)}.
 *   <li>Handshakes are reported as on a Netty server or client (mtls-netty's peer check sits after
 *       grpc's {@code SslHandler}): every failure once with its class, every success once with its
 *       duration; the suite checks it without exemptions.
 * </ul>
 */
final class GrpcIntegration implements TlsIntegration {

  static final String OK = "grpc ok";

  static final MethodDescriptor<String, String> CALL = MethodDescriptor.<String, String>newBuilder()
      .setType(MethodDescriptor.MethodType.UNARY)
      .setFullMethodName("conformance.Probe/Call")
      .setRequestMarshaller(Echo.STRING).setResponseMarshaller(Echo.STRING).build();

  private final TlsProvider provider;

  GrpcIntegration(TlsProvider provider) {
    this.provider = provider;
  }

  @Override
  public String name() {
    return "grpc " + provider;
  }

  @Override
  public Server server(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
      throws Exception {
    GrpcServerTls tls = GrpcMtls.forServer(source).provider(provider).policy(policy).peerPolicy(peers)
        .listener(listener).build();
    ServerServiceDefinition service = ServerServiceDefinition.builder("conformance.Probe")
        .addMethod(CALL, ServerCalls.asyncUnaryCall((request, answer) -> {
          answer.onNext(OK);
          answer.onCompleted();
        }))
        .build();
    io.grpc.Server server;
    try {
      server = tls.newServerBuilder(new InetSocketAddress("127.0.0.1", 0)).addService(service).build().start();
    } catch (IOException | RuntimeException e) {
      tls.close();
      throw e;
    }
    return new Server() {
      @Override
      public int port() {
        return server.getPort();
      }

      @Override
      public void close() throws Exception {
        server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        tls.close();
      }
    };
  }

  @Override
  public Client client(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
      throws Exception {
    GrpcClientTls tls = GrpcMtls.forClient(source).provider(provider).policy(policy).peerPolicy(peers)
        .listener(listener).build();
    return new Client() {
      @Override
      public String call(int port) throws Exception {
        ManagedChannel channel = tls.newChannelBuilder("127.0.0.1:" + port).build();
        try {
          return ClientCalls.blockingUnaryCall(channel, CALL,
              io.grpc.CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), "probe");
        } finally {
          channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
      }

      @Override
      public void close() {
        tls.close();
      }
    };
  }

  /** Not sent as such: {@link #ask} holds an HTTP/2 conversation that calls {@code conformance.Probe/Call}. */
  @Override
  public String probe() {
    return "conformance.Probe/Call";
  }

  @Override
  public String okLine() {
    return OK;
  }

  @Override
  public OutsidePeer.Result ask(OutsidePeer peer, int port) throws Exception {
    return peer.applicationProtocols("h2").exchange(port, (in, out) -> call(in, out, port));
  }

  @Override
  public boolean refusesPeersPerRequest() {
    return true;
  }

  // ---------------------------------------------------------------- a gRPC call in raw HTTP/2

  private static final int DATA = 0;
  private static final int HEADERS = 1;
  private static final int RST_STREAM = 3;
  private static final int SETTINGS = 4;
  private static final int GOAWAY = 7;

  /** One unary call on stream 1; returns the answer's message, or null if the call ended without one. */
  private static String call(InputStream in, OutputStream out, int port) throws IOException {
    ByteArrayOutputStream headers = new ByteArrayOutputStream();
    headers.write(0x83); // :method POST (static table 3)
    headers.write(0x87); // :scheme https (static table 7)
    literal(headers, new byte[] {0x04}, "/" + CALL.getFullMethodName()); // :path, name from index 4
    literal(headers, new byte[] {0x01}, "127.0.0.1:" + port); // :authority, index 1
    literal(headers, new byte[] {0x0f, 0x10}, "application/grpc"); // content-type, index 31
    headers.write(0x00); // te: trailers, a new name
    string(headers, "te");
    string(headers, "trailers");
    byte[] message = "probe".getBytes(StandardCharsets.US_ASCII);
    byte[] body = new byte[5 + message.length];
    body[4] = (byte) message.length;
    System.arraycopy(message, 0, body, 5, message.length);

    out.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
    frame(out, SETTINGS, 0, 0, new byte[0]);
    frame(out, HEADERS, 0x4, 1, headers.toByteArray()); // END_HEADERS
    frame(out, DATA, 0x1, 1, body); // END_STREAM
    out.flush();

    DataInputStream frames = new DataInputStream(in);
    while (true) {
      int length;
      try {
        length = frames.readUnsignedByte() << 16 | frames.readUnsignedShort();
      } catch (EOFException e) {
        return null;
      }
      int type = frames.readUnsignedByte();
      int flags = frames.readUnsignedByte();
      int stream = frames.readInt() & 0x7fffffff;
      byte[] payload = frames.readNBytes(length);
      if (payload.length < length) {
        return null;
      }
      if (type == SETTINGS && (flags & 0x1) == 0) {
        frame(out, SETTINGS, 0x1, 0, new byte[0]); // ACK
        out.flush();
      } else if (type == DATA && stream == 1 && payload.length >= 5) {
        return new String(payload, 5, payload.length - 5, StandardCharsets.UTF_8);
      } else if ((type == HEADERS && stream == 1 && (flags & 0x1) != 0) || type == RST_STREAM || type == GOAWAY) {
        return null; // trailers only (a refused call), a reset stream or a closing connection
      }
    }
  }

  private static void literal(ByteArrayOutputStream to, byte[] nameIndex, String value) {
    to.writeBytes(nameIndex);
    string(to, value);
  }

  private static void string(ByteArrayOutputStream to, String value) {
    byte[] bytes = value.getBytes(StandardCharsets.US_ASCII);
    if (bytes.length > 126) {
      throw new IllegalArgumentException("too long for a one-byte HPACK length: " + value);
    }
    to.write(bytes.length);
    to.writeBytes(bytes);
  }

  private static void frame(OutputStream out, int type, int flags, int stream, byte[] payload) throws IOException {
    int n = payload.length;
    out.write(new byte[] {(byte) (n >>> 16), (byte) (n >>> 8), (byte) n, (byte) type, (byte) flags,
        (byte) (stream >>> 24), (byte) (stream >>> 16), (byte) (stream >>> 8), (byte) stream});
    out.write(payload);
  }
}
