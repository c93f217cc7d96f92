package dev.kubemtls.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.netty.TlsProvider;
import dev.kubemtls.testkit.TestCa;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.math.BigInteger;
import java.net.InetSocketAddress;
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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Ten certificate rotations and a CA rotation with overlap while unary calls on new channels, unary
 * calls on a long-lived channel and a bidirectional stream keep running: no call fails, new
 * connections present the newest certificate, and the open connection keeps its first one.
 */
class GrpcRotationUnderLoadTest {

  private static final int IDENTITY_ROTATIONS = 10;
  private static final Duration STEP_TIMEOUT = Duration.ofSeconds(60);
  /** A deadline counts from when it is made: one per call. */
  private static CallOptions deadline() {
    return CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS);
  }
  /** Workers: 0 = a new channel per call, 1 = unary calls on the long-lived channel, 2 = the stream. */
  private static final int WORKERS = 3;

  private final List<BigInteger> serverSerials = new CopyOnWriteArrayList<>();
  private final AtomicInteger published = new AtomicInteger();
  private final List<String> failures = new CopyOnWriteArrayList<>();
  private final AtomicBoolean stop = new AtomicBoolean();
  private final AtomicLongArray completed = new AtomicLongArray(WORKERS);

  @ParameterizedTest
  @EnumSource(value = TlsProvider.class, names = {"OPENSSL", "JDK"})
  void rotationsUnderLoadFailNoCall(TlsProvider provider) throws Exception {
    TestCa oldCa = TestCa.create("old CA");
    TestCa newCa = TestCa.create("new CA");
    TlsIdentity firstServer = Pki.server(oldCa, 1);
    serverSerials.add(firstServer.leaf().getSerialNumber());
    MaterialPublisher serverSource = new MaterialPublisher(new MtlsMaterial(firstServer, Pki.trust("v1", oldCa), 1));
    MaterialPublisher clientSource = new MaterialPublisher(
        new MtlsMaterial(Pki.client(oldCa, 1), Pki.trust("v1", oldCa), 1));
    ExecutorService load = Executors.newFixedThreadPool(WORKERS);
    try (GrpcServerTls serverTls = GrpcMtls.forServer(serverSource).provider(provider).build();
        GrpcClientTls clientTls = GrpcMtls.forClient(clientSource).provider(provider).build()) {
      Server server = serverTls.newServerBuilder(new InetSocketAddress("127.0.0.1", 0))
          .addService(new Echo()).build().start();
      String target = "127.0.0.1:" + server.getPort();
      ManagedChannel longLived = clientTls.newChannelBuilder(target).build();
      try {
        assertThat(Echo.parts(ClientCalls.blockingUnaryCall(longLived, Echo.UNARY, deadline(), "first"))[2])
            .isEqualTo(firstServer.leaf().getSerialNumber().toString(16));
        load.submit(() -> newChannels(clientTls, target));
        load.submit(() -> unary(longLived));
        CompletableFuture<Void> streamDone = new CompletableFuture<>();
        load.submit(() -> stream(longLived, streamDone));
        awaitProgress();

        for (int i = 0; i < IDENTITY_ROTATIONS; i++) {
          MtlsMaterial s = serverSource.current();
          publishServer(serverSource, s.withIdentity(Pki.server(oldCa, s.identity().generation() + 1)));
          MtlsMaterial c = clientSource.current();
          clientSource.publish(c.withIdentity(Pki.client(oldCa, c.identity().generation() + 1)));
          awaitProgress();
        }
        // CA rotation with overlap: trust both, move both identities to the new CA, trust only it.
        serverSource.publish(serverSource.current().withTrust(Pki.trust("v2", oldCa, newCa)));
        clientSource.publish(clientSource.current().withTrust(Pki.trust("v2", oldCa, newCa)));
        awaitProgress();
        MtlsMaterial s = serverSource.current();
        publishServer(serverSource, s.withIdentity(Pki.server(newCa, s.identity().generation() + 1)));
        MtlsMaterial c = clientSource.current();
        clientSource.publish(c.withIdentity(Pki.client(newCa, c.identity().generation() + 1)));
        awaitProgress();
        serverSource.publish(serverSource.current().withTrust(Pki.trust("v3", newCa)));
        clientSource.publish(clientSource.current().withTrust(Pki.trust("v3", newCa)));
        awaitProgress();

        stop.set(true);
        load.shutdown();
        assertThat(load.awaitTermination(STEP_TIMEOUT.toSeconds(), TimeUnit.SECONDS)).isTrue();
        streamDone.get(STEP_TIMEOUT.toSeconds(), TimeUnit.SECONDS);

        assertThat(failures).isEmpty();
        assertThat(serverSerials).hasSize(IDENTITY_ROTATIONS + 2);
        assertThat(completed.get(0)).isGreaterThanOrEqualTo(2L * (IDENTITY_ROTATIONS + 4));
        // The long-lived connection still runs on the first keys; a new channel gets the newest.
        assertThat(Echo.parts(ClientCalls.blockingUnaryCall(longLived, Echo.UNARY, deadline(), "last"))[2])
            .isEqualTo(serverSerials.get(0).toString(16));
        ManagedChannel fresh = clientTls.newChannelBuilder(target).build();
        assertThat(Echo.parts(ClientCalls.blockingUnaryCall(fresh, Echo.UNARY, deadline(), "new"))[2])
            .isEqualTo(serverSerials.get(serverSerials.size() - 1).toString(16));
        fresh.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        // The open connection pins the first context (OpenSSL contexts are reference counted);
        // nothing in between stays alive, and closing it frees the first.
        int pinned = provider == TlsProvider.OPENSSL ? 2 : 1;
        await().atMost(STEP_TIMEOUT).until(() -> serverTls.liveContexts() == pinned);
      } finally {
        longLived.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      }
      await().atMost(STEP_TIMEOUT).until(() -> serverTls.liveContexts() == 1);
    } finally {
      stop.set(true);
      load.shutdownNow();
    }
  }

  private void publishServer(MaterialPublisher source, MtlsMaterial material) {
    // Known before it is published: a connection may see it before publish() returns.
    serverSerials.add(material.identity().leaf().getSerialNumber());
    source.publish(material);
    published.set(serverSerials.size() - 1);
  }

  /** Waits until every worker has completed two more calls, so each has seen the change. */
  private void awaitProgress() {
    long[] before = new long[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
      before[w] = completed.get(w);
    }
    await().atMost(STEP_TIMEOUT).until(() -> {
      if (!failures.isEmpty()) {
        return true;
      }
      for (int w = 0; w < WORKERS; w++) {
        if (completed.get(w) < before[w] + 2) {
          return false;
        }
      }
      return true;
    });
    assertThat(failures).isEmpty();
  }

  private void newChannels(GrpcClientTls tls, String target) {
    int n = 0;
    while (!stop.get()) {
      int atLeast = published.get();
      String request = "new-" + n++;
      ManagedChannel ch = tls.newChannelBuilder(target).build();
      try {
        String[] answer = Echo.parts(ClientCalls.blockingUnaryCall(ch, Echo.UNARY, deadline(), request));
        int seen = serialIndex(answer[2]);
        if (!answer[0].equals(request)) {
          failures.add(request + ": got " + answer[0]);
        } else if (seen < atLeast) {
          failures.add(request + ": opened after publish #" + atLeast + " but saw certificate #" + seen);
        } else {
          completed.incrementAndGet(0);
        }
      } catch (RuntimeException e) {
        failures.add(request + ": " + e);
      } finally {
        ch.shutdownNow();
      }
    }
  }

  private int serialIndex(String hex) {
    return serverSerials.indexOf(new BigInteger(hex, 16));
  }

  private void unary(ManagedChannel ch) {
    int n = 0;
    while (!stop.get()) {
      String request = "unary-" + n++;
      try {
        String[] answer = Echo.parts(ClientCalls.blockingUnaryCall(ch, Echo.UNARY, deadline(), request));
        if (answer[0].equals(request)) {
          completed.incrementAndGet(1);
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
        completed.incrementAndGet(2);
      }
      requests.onCompleted();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
