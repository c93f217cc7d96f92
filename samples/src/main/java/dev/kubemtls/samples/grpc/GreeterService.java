package dev.kubemtls.samples.grpc;

import com.google.protobuf.Descriptors;
import dev.kubemtls.samples.grpc.proto.GreeterProto;
import dev.kubemtls.samples.grpc.proto.HelloReply;
import dev.kubemtls.samples.grpc.proto.HelloRequest;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCalls;

/**
 * The {@code kubemtls.samples.Greeter} service of {@code greeter.proto} for grpc-java: its method
 * descriptor, read from the file descriptor protoc compiled, with protobuf marshallers. Any client
 * generated from the same .proto (Java, Go, ...) calls it.
 */
public final class GreeterService {

  /** The service as the .proto declares it. */
  public static final Descriptors.ServiceDescriptor SERVICE =
      GreeterProto.getDescriptor().findServiceByName("Greeter");

  /** {@code rpc SayHello (HelloRequest) returns (HelloReply)}. */
  public static final MethodDescriptor<HelloRequest, HelloReply> SAY_HELLO =
      MethodDescriptor.<HelloRequest, HelloReply>newBuilder()
          .setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE.getFullName(),
              SERVICE.findMethodByName("SayHello").getName()))
          .setRequestMarshaller(ProtoUtils.marshaller(HelloRequest.getDefaultInstance()))
          .setResponseMarshaller(ProtoUtils.marshaller(HelloReply.getDefaultInstance()))
          .build();

  private GreeterService() {}

  /** A service definition whose SayHello is {@code handler}. */
  public static ServerServiceDefinition bind(ServerCalls.UnaryMethod<HelloRequest, HelloReply> handler) {
    return ServerServiceDefinition.builder(SERVICE.getFullName())
        .addMethod(SAY_HELLO, ServerCalls.asyncUnaryCall(handler))
        .build();
  }
}
