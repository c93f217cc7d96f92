package dev.kubemtls.samples.grpc;

import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.grpc.GrpcMtls;
import dev.kubemtls.grpc.GrpcServerTls;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.samples.DemoEvents;
import dev.kubemtls.samples.SampleSupport;
import dev.kubemtls.samples.grpc.proto.HelloReply;
import dev.kubemtls.samples.grpc.proto.HelloRequest;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.grpc.Server;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;

/**
 * The gRPC sample server: serves {@code kubemtls.samples.Greeter} (samples/src/main/proto) over mTLS
 * with the pod's certificate, renewed in place. Only callers running as the ServiceAccounts named
 * in {@code GRPC_ALLOWED_SERVICE_ACCOUNTS} (comma-separated, in the pod's namespace) may call; any
 * SPIFFE ID when it is empty. Listens on {@code POD_IP:GRPC_PORT} (default 9443).
 */
public final class GreeterServer {

  private GreeterServer() {}

  public static void main(String[] args) throws Exception {
    String host = SampleSupport.env("POD_IP", "127.0.0.1");
    int port = Integer.parseInt(SampleSupport.env("GRPC_PORT", "9443"));
    String namespace = SampleSupport.env("POD_NAMESPACE", "default");
    PeerPolicy.Builder allowed = PeerPolicy.builder();
    for (String sa : SampleSupport.env("GRPC_ALLOWED_SERVICE_ACCOUNTS", "").split(",")) {
      if (!sa.isBlank()) {
        allowed.allowServiceAccount(namespace, sa.trim());
      }
    }
    try (KubernetesClient client = new KubernetesClientBuilder().build();
         KubeMtls certificates = SampleSupport.startWorkload(client);
         GrpcServerTls tls = GrpcMtls.forServer(certificates).peerPolicy(allowed.build()).build()) {
      Server server = tls.newServerBuilder(new InetSocketAddress(host, port))
          .addService(GreeterService.bind(GreeterServer::sayHello))
          .build().start();
      DemoEvents.emit("ready", "listening=" + host + ":" + port, "tls=" + tls.provider(),
          "policy=\"" + tls.peerPolicy() + "\"");
      Runtime.getRuntime().addShutdownHook(new Thread(server::shutdown));
      server.awaitTermination();
    }
  }

  /** Greets the caller by the SPIFFE ID its certificate proved. */
  static void sayHello(HelloRequest request, StreamObserver<HelloReply> answer) {
    String caller = GrpcMtls.peer().map(p -> p.displayName()).orElse("unknown");
    answer.onNext(HelloReply.newBuilder()
        .setMessage("hello " + request.getName() + ", you are " + caller)
        .setCaller(caller)
        .build());
    answer.onCompleted();
  }
}
