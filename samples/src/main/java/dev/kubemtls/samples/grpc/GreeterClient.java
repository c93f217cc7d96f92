package dev.kubemtls.samples.grpc;

import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.grpc.GrpcClientTls;
import dev.kubemtls.grpc.GrpcMtls;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.samples.DemoEvents;
import dev.kubemtls.samples.SampleSupport;
import dev.kubemtls.samples.grpc.proto.HelloReply;
import dev.kubemtls.samples.grpc.proto.HelloRequest;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The gRPC sample client: calls {@code Greeter.SayHello} on {@code GRPC_TARGET} (host:port) over
 * mTLS with the pod's certificate, for {@code DEMO_DURATION_SECONDS}: on one long-lived channel, and
 * every tenth call on a new channel (a new handshake, with the material current at that moment).
 * The server must prove {@code GRPC_AUTHORITY} (default: the target's host) and, if
 * {@code GRPC_SERVER_SERVICE_ACCOUNT} is set, run as that ServiceAccount of the pod's namespace.
 */
public final class GreeterClient {

  private static final long DEADLINE_SECONDS = 10;

  private GreeterClient() {}

  public static void main(String[] args) throws Exception {
    String target = SampleSupport.env("GRPC_TARGET", "127.0.0.1:9443");
    String authority = SampleSupport.env("GRPC_AUTHORITY", "");
    String serverSa = SampleSupport.env("GRPC_SERVER_SERVICE_ACCOUNT", "");
    String namespace = SampleSupport.env("POD_NAMESPACE", "default");
    long seconds = Long.parseLong(SampleSupport.env("DEMO_DURATION_SECONDS", "60"));
    AtomicLong calls = new AtomicLong();
    AtomicLong failed = new AtomicLong();
    try (KubernetesClient client = new KubernetesClientBuilder().build();
         KubeMtls certificates = SampleSupport.startWorkload(client);
         GrpcClientTls tls = GrpcMtls.forClient(certificates)
             .peerPolicy(serverSa.isEmpty() ? PeerPolicy.anySpiffeId()
                 : PeerPolicy.builder().allowServiceAccount(namespace, serverSa).build())
             .build()) {
      ManagedChannel longLived = channel(tls, target, authority);
      DemoEvents.emit("ready", "target=" + target, "tls=" + tls.provider());
      ScheduledExecutorService pace = Executors.newSingleThreadScheduledExecutor();
      pace.scheduleWithFixedDelay(() -> {
        long i = calls.incrementAndGet();
        boolean fresh = i % 10 == 0;
        ManagedChannel ch = fresh ? channel(tls, target, authority) : longLived;
        try {
          HelloReply reply = ClientCalls.blockingUnaryCall(ch, GreeterService.SAY_HELLO,
              CallOptions.DEFAULT.withDeadlineAfter(DEADLINE_SECONDS, TimeUnit.SECONDS),
              HelloRequest.newBuilder().setName("call " + i).build());
          if (!reply.getMessage().startsWith("hello call " + i)) {
            throw new IllegalStateException("unexpected answer: " + reply.getMessage());
          }
        } catch (RuntimeException e) {
          failed.incrementAndGet();
          DemoEvents.emit("request_failed", "via=\"grpc " + (fresh ? "new" : "long-lived") + " channel\"",
              "error=\"" + e.getMessage() + "\"");
        } finally {
          if (fresh) {
            ch.shutdownNow();
          }
        }
      }, 0, 50, TimeUnit.MILLISECONDS);
      pace.scheduleAtFixedRate(() -> DemoEvents.emit("stats", "requests=" + calls.get(),
          "failed=" + failed.get()), 1, 1, TimeUnit.SECONDS);
      if (pace.awaitTermination(seconds, TimeUnit.SECONDS)) {
        throw new IllegalStateException("the call scheduler stopped early");
      }
      pace.shutdown();
      if (!pace.awaitTermination(30, TimeUnit.SECONDS)) {
        pace.shutdownNow();
      }
      longLived.shutdown().awaitTermination(10, TimeUnit.SECONDS);
    }
    DemoEvents.emit("grpc_done", "requests=" + calls.get(), "failed=" + failed.get());
  }

  private static ManagedChannel channel(GrpcClientTls tls, String target, String authority) {
    NettyChannelBuilder b = tls.newChannelBuilder(target);
    if (!authority.isEmpty()) {
      b.overrideAuthority(authority);
    }
    return b.build();
  }
}
