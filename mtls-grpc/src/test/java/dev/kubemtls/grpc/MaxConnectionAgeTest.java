package dev.kubemtls.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.testkit.TestCa;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.stub.ClientCalls;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A server with a maximum connection age moves a long-lived channel onto the current certificate
 * without a failed call; one without keeps the channel on the certificate it connected with.
 */
class MaxConnectionAgeTest {

  /** A deadline counts from when it is made: one per call. */
  private static CallOptions deadline() {
    return CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  @Test
  void aBoundedConnectionReconnectsOntoTheNewCertificateWithoutFailedCalls() throws Exception {
    TestCa ca = TestCa.create("cluster CA");
    TlsIdentity first = Pki.server(ca, 1);
    MaterialPublisher serverSource = new MaterialPublisher(new MtlsMaterial(first, Pki.trust("v1", ca), 1));
    MaterialPublisher clientSource = new MaterialPublisher(Pki.material(Pki.client(ca, 1), Pki.trust("v1", ca)));
    List<String> failures = new CopyOnWriteArrayList<>();
    // A short age, so that the connection is replaced soon; a long grace, so that a call the old
    // connection took just before its GOAWAY has all the time it needs on a loaded machine (the old
    // connection closes as soon as it has no call left, so the grace costs no time here).
    try (GrpcServerTls bounded = GrpcMtls.forServer(serverSource)
            .maxConnectionAge(Duration.ofSeconds(1), Duration.ofSeconds(60)).build();
        GrpcServerTls unbounded = GrpcMtls.forServer(serverSource).noMaxConnectionAge().build();
        GrpcClientTls client = GrpcMtls.forClient(clientSource).build()) {
      assertThat(bounded.maxConnectionAge()).contains(Duration.ofSeconds(1));
      assertThat(unbounded.maxConnectionAge()).isEmpty();
      Server a = bounded.newServerBuilder(new InetSocketAddress("127.0.0.1", 0)).addService(new Echo()).build().start();
      Server b = unbounded.newServerBuilder(new InetSocketAddress("127.0.0.1", 0)).addService(new Echo()).build().start();
      ManagedChannel toA = client.newChannelBuilder("127.0.0.1:" + a.getPort()).build();
      ManagedChannel toB = client.newChannelBuilder("127.0.0.1:" + b.getPort()).build();
      try {
        String firstSerial = first.leaf().getSerialNumber().toString(16);
        assertThat(serial(toA, failures)).isEqualTo(firstSerial);
        assertThat(serial(toB, failures)).isEqualTo(firstSerial);

        TlsIdentity second = Pki.server(ca, 2);
        serverSource.publish(serverSource.current().withIdentity(second));
        String secondSerial = second.leaf().getSerialNumber().toString(16);
        // Calls keep going on the bounded channel until its connection has been replaced.
        await().atMost(Duration.ofSeconds(30)).until(() -> secondSerial.equals(serial(toA, failures)));
        assertThat(failures).isEmpty();
        // The unbounded channel is still on its first connection and so on the first certificate.
        assertThat(serial(toB, failures)).isEqualTo(firstSerial);
        assertThat(failures).isEmpty();
      } finally {
        toA.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        toB.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        a.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        b.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void theAgeMustBePositive() {
    MaterialPublisher source = new MaterialPublisher();
    assertThatThrownBy(() -> GrpcMtls.forServer(source).maxConnectionAge(Duration.ZERO, Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxConnectionAge must be positive");
    assertThat(GrpcMtls.forServer(source).build().maxConnectionAge())
        .contains(GrpcServerTls.DEFAULT_MAX_CONNECTION_AGE);
  }

  private static String serial(ManagedChannel ch, List<String> failures) {
    try {
      return Echo.parts(ClientCalls.blockingUnaryCall(ch, Echo.UNARY, deadline(), "x"))[2];
    } catch (RuntimeException e) {
      failures.add(e.toString());
      return "failed";
    }
  }
}
