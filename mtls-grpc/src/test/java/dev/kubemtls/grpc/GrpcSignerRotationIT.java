package dev.kubemtls.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.signer.internal.CaRotation;
import dev.kubemtls.signer.internal.CertificateAuthority;
import dev.kubemtls.signer.it.ShortLivedSigner.ServerCertificates;
import dev.kubemtls.signer.it.ShortLivedSigner.Workload;
import dev.kubemtls.signer.it.ShortLivedSigner;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * gRPC mTLS with certificates issued through our signer on the real control plane: a server and a
 * client workload get 20-second certificates, and unary calls on new channels, unary calls on a
 * long-lived channel and a bidirectional stream go on without a single failure while both renew at
 * least three times and the signer rotates its CA. Then a Go gRPC client calls the server with the
 * client workload's signer-issued certificate.
 */
class GrpcSignerRotationIT {

  private static final Duration STEP = Duration.ofSeconds(30);
  /** A deadline counts from when it is made: one per call. */
  private static CallOptions deadline() {
    return CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  private final List<String> failures = new CopyOnWriteArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final AtomicLong newChannelCalls = new AtomicLong();
  private final AtomicLong longLivedCalls = new AtomicLong();
  private final AtomicLong streamMessages = new AtomicLong();

  @TempDir
  Path dir;

  @Test
  @Timeout(value = 4, unit = TimeUnit.MINUTES)
  void grpcSurvivesRenewalsAndACaRotationUnderLoad() throws Exception {
    long started = System.nanoTime();
    try (ShortLivedSigner signer = new ShortLivedSigner("grpc-it")) {
      String ns = signer.namespace("grpc-it");
      Workload server = signer.workload(ns, "orders");
      Workload client = signer.workload(ns, "checkout");
      ExecutorService load = Executors.newFixedThreadPool(3);
      try (GrpcServerTls serverTls = GrpcMtls.forServer(server.mtls())
              .peerPolicy(dev.kubemtls.core.peer.PeerPolicy.builder().allowServiceAccount(ns, "checkout").build())
              .build();
          GrpcClientTls clientTls = GrpcMtls.forClient(client.mtls())
              .peerPolicy(dev.kubemtls.core.peer.PeerPolicy.builder().allowServiceAccount(ns, "orders").build())
              .build();
          ServerCertificates certificates = new ServerCertificates(server.mtls())) {
        Server grpc = serverTls.newServerBuilder(new InetSocketAddress("127.0.0.1", 0))
            .addService(new Echo()).build().start();
        String target = "127.0.0.1:" + grpc.getPort();
        ManagedChannel longLived = channel(clientTls, target, server);
        try {
          String[] first = Echo.parts(ClientCalls.blockingUnaryCall(longLived, Echo.UNARY, deadline(), "hello"));
          assertThat(first[1]).isEqualTo(client.spiffeId());
          assertThat(new BigInteger(first[2], 16)).isEqualTo(server.serial());

          load.submit(() -> newChannels(clientTls, target, server, certificates));
          load.submit(() -> unary(longLived));
          CompletableFuture<Void> streamDone = new CompletableFuture<>();
          load.submit(() -> stream(longLived, streamDone));
          awaitProgress();

          CertificateAuthority next = signer.renewAndRotateCa(3, STEP);
          BigInteger afterRotation = server.serial();
          awaitProgress();

          // A channel opened now gets a certificate from the new CA.
          ManagedChannel fresh = channel(clientTls, target, server);
          String[] answer = Echo.parts(ClientCalls.blockingUnaryCall(fresh, Echo.UNARY, deadline(), "after"));
          certificates.saw(afterRotation, new BigInteger(answer[2], 16));
          assertThat(ShortLivedSigner.issuedBy(server.mtls().current(), next.certificate())).isTrue();
          fresh.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);

          stop.set(true);
          load.shutdown();
          assertThat(load.awaitTermination(STEP.toSeconds(), TimeUnit.SECONDS)).isTrue();
          streamDone.get(STEP.toSeconds(), TimeUnit.SECONDS);

          assertThat(failures).isEmpty();
          assertThat(signer.problems()).isEmpty();
          assertThat(signer.caChanges).contains(CaRotation.Change.STARTED, CaRotation.Change.SWITCHED,
              CaRotation.Change.RETIRED);
          assertThat(server.events.rotations.get()).isGreaterThanOrEqualTo(3);
          assertThat(client.events.rotations.get()).isGreaterThanOrEqualTo(3);
          assertThat(certificates.stale()).isEmpty();
          assertThat(longLivedCalls.get()).isPositive();
          assertThat(streamMessages.get()).isPositive();

          // A peer not written in Java, with the client workload's certificate from our signer.
          Path pem = Files.createDirectory(dir.resolve("checkout"));
          GoPeer.writePem(client.mtls().current(), pem);
          GoPeer.Result go = GoPeer.call(target, server.serviceHost(), pem, true, "from go");
          assertThat(go.exitCode()).as(go.output()).isZero();
          assertThat(go.output()).startsWith("OK from go|" + client.spiffeId() + "|");
          assertThat(ShortLivedSigner.issuedBy(server.mtls().current(), next.certificate())).isTrue();
          assertThat(certificates.count()).isGreaterThan(3);

          System.out.printf("grpc IT: %d calls on new channels, %d on the long-lived channel, %d stream"
                  + " messages; server rotations %d, client rotations %d, server certificates %d, CA changes %s,"
                  + " failures %d, %d s%n", newChannelCalls.get(), longLivedCalls.get(), streamMessages.get(),
              server.events.rotations.get(), client.events.rotations.get(), certificates.count(),
              signer.caChanges, failures.size(), Duration.ofNanos(System.nanoTime() - started).toSeconds());
        } finally {
          longLived.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
          grpc.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
      } finally {
        stop.set(true);
        load.shutdownNow();
      }
    }
  }

  private static ManagedChannel channel(GrpcClientTls tls, String target, Workload server) {
    // The workload's pod IP is not on this machine: dial loopback and check the Service name.
    return tls.newChannelBuilder(target).overrideAuthority(server.serviceHost()).build();
  }

  private void awaitProgress() {
    long a = newChannelCalls.get();
    long b = longLivedCalls.get();
    long c = streamMessages.get();
    await().atMost(STEP).until(() -> !failures.isEmpty()
        || (newChannelCalls.get() >= a + 2 && longLivedCalls.get() >= b + 2 && streamMessages.get() >= c + 2));
    assertThat(failures).isEmpty();
  }

  private void newChannels(GrpcClientTls tls, String target, Workload server, ServerCertificates certificates) {
    int n = 0;
    while (!stop.get()) {
      String request = "new-" + n++;
      BigInteger current = server.serial();
      ManagedChannel ch = channel(tls, target, server);
      try {
        String[] answer = Echo.parts(ClientCalls.blockingUnaryCall(ch, Echo.UNARY, deadline(), request));
        if (!answer[0].equals(request)) {
          failures.add(request + ": got " + answer[0]);
        } else {
          certificates.saw(current, new BigInteger(answer[2], 16));
          newChannelCalls.incrementAndGet();
        }
      } catch (RuntimeException e) {
        failures.add(request + ": " + e);
      } finally {
        ch.shutdownNow();
      }
    }
  }

  private void unary(ManagedChannel ch) {
    int n = 0;
    while (!stop.get()) {
      String request = "unary-" + n++;
      try {
        String[] answer = Echo.parts(ClientCalls.blockingUnaryCall(ch, Echo.UNARY, deadline(), request));
        if (answer[0].equals(request)) {
          longLivedCalls.incrementAndGet();
        } else {
          failures.add(request + ": got " + answer[0]);
        }
      } catch (RuntimeException e) {
        failures.add(request + ": " + e);
      }
    }
  }

  private void stream(ManagedChannel ch, CompletableFuture<Void> done) {
    BlockingQueue<String> answers = new LinkedBlockingQueue<>();
    StreamObserver<String> requests = ClientCalls.asyncBidiStreamingCall(ch.newCall(Echo.STREAM, CallOptions.DEFAULT),
        new StreamObserver<String>() {
          @Override
          public void onNext(String value) {
            answers.add(value);
          }

          @Override
          public void onError(Throwable t) {
            failures.add("stream: " + t);
            done.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            done.complete(null);
          }
        });
    int n = 0;
    try {
      while (!stop.get() && !done.isDone()) {
        String message = "stream-" + n++;
        requests.onNext(message);
        String answer = answers.poll(30, TimeUnit.SECONDS);
        if (answer == null || !Echo.parts(answer)[0].equals(message)) {
          failures.add(message + ": got " + answer);
          return;
        }
        streamMessages.incrementAndGet();
      }
      requests.onCompleted();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
