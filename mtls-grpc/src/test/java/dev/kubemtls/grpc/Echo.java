package dev.kubemtls.grpc;

import io.grpc.BindableService;
import io.grpc.Grpc;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLSession;

/**
 * A gRPC service for tests without protoc: strings as messages. {@code Unary} answers
 * {@code <request>|<caller's SPIFFE ID from the Context>|<serial of the server certificate of this
 * connection, hex>}; {@code Stream} (bidirectional) echoes each message the same way.
 */
final class Echo implements BindableService {

  static final MethodDescriptor.Marshaller<String> STRING = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(String value) {
      return new ByteArrayInputStream(value.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public String parse(InputStream stream) {
      try {
        return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  };

  static final MethodDescriptor<String, String> UNARY = MethodDescriptor.<String, String>newBuilder()
      .setType(MethodDescriptor.MethodType.UNARY)
      .setFullMethodName("test.Echo/Unary")
      .setRequestMarshaller(STRING).setResponseMarshaller(STRING).build();

  static final MethodDescriptor<String, String> STREAM = MethodDescriptor.<String, String>newBuilder()
      .setType(MethodDescriptor.MethodType.BIDI_STREAMING)
      .setFullMethodName("test.Echo/Stream")
      .setRequestMarshaller(STRING).setResponseMarshaller(STRING).build();

  @Override
  public ServerServiceDefinition bindService() {
    return ServerServiceDefinition.builder("test.Echo")
        .addMethod(UNARY, new Handler())
        .addMethod(STREAM, new Handler())
        .build();
  }

  /** Splits an answer into request, caller and server serial. */
  static String[] parts(String answer) {
    return answer.split("\\|", -1);
  }

  private static final class Handler implements ServerCallHandler<String, String> {
    @Override
    public ServerCall.Listener<String> startCall(ServerCall<String, String> call, io.grpc.Metadata headers) {
      String caller = GrpcMtls.peer().flatMap(p -> p.spiffeId()).orElse("-");
      SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
      String serial = ((X509Certificate) session.getLocalCertificates()[0]).getSerialNumber().toString(16);
      boolean unary = call.getMethodDescriptor().getType() == MethodDescriptor.MethodType.UNARY;
      call.sendHeaders(new io.grpc.Metadata());
      call.request(1);
      return new ServerCall.Listener<>() {
        @Override
        public void onMessage(String message) {
          call.sendMessage(message + "|" + caller + "|" + serial);
          if (unary) {
            call.close(Status.OK, new io.grpc.Metadata());
          } else {
            call.request(1);
          }
        }

        @Override
        public void onHalfClose() {
          if (!unary) {
            call.close(Status.OK, new io.grpc.Metadata());
          }
        }
      };
    }
  }
}
