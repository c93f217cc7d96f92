package dev.kubemtls.signer.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.kubemtls.core.CertificateDeniedException;
import dev.kubemtls.core.rotation.ManagerListener;
import dev.kubemtls.core.rotation.RotationPolicy;
import dev.kubemtls.kubernetes.KubeMtls;
import dev.kubemtls.kubernetes.PodEvents;
import dev.kubemtls.kubernetes.WorkloadIdentity;
import dev.kubemtls.testkit.MutableClock;
import dev.kubemtls.testkit.RecordingClient;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.rbac.RoleBindingBuilder;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * A workload's Events on its own Pod, on the real control plane with the shared signer: the
 * workload acts with a token bound to its Pod and the optional role of {@code workload-rbac.yaml}.
 */
class PodEventsIT {

  @Test
  void theWorkloadsPodGetsAnIssuedEventAndOneDeniedEventForAStormOfDenials() throws Exception {
    SignerFixture fx = SignerFixture.get();
    SignerFixture.Workload web = fx.workload("pod-events-it");
    String ns = web.namespace();
    bindEvents(fx, ns, "web");
    String uid = web.pod().getMetadata().getUid();

    try (KubeMtls ok = KubeMtls.forWorkload(web.client()).identity(identity(web).build())
        .signerName(SignerFixture.SIGNER_NAME).podUid(uid).start()) {
      ok.awaitReady(Duration.ofSeconds(60));
      Event issued = awaitEvents(fx, ns, PodEvents.ISSUED, 1).get(0);
      assertThat(issued.getType()).isEqualTo("Normal");
      assertThat(issued.getInvolvedObject().getKind()).isEqualTo("Pod");
      assertThat(issued.getInvolvedObject().getName()).isEqualTo("web-0");
      assertThat(issued.getInvolvedObject().getUid()).isEqualTo(uid);
      assertThat(issued.getMessage()).startsWith("issued certificate serial "
          + ok.current().identity().leaf().getSerialNumber().toString(16));
      assertThat(issued.getSource().getComponent()).isEqualTo("kube-mtls");
      // kubectl describe pod matches Events by the Pod's UID: they show there.
      assertThat(Kubectl.run(fx.cp, "describe", "pod", "web-0", "-n", ns)).contains("Events:")
          .contains(PodEvents.ISSUED);

      // The two Warnings a healthy run does not produce, told directly to a recorder for this Pod.
      try (PodEvents direct = new PodEvents(web.client(), ns, "web-0", uid, java.time.InstantSource.system(),
          PodEvents.DEFAULT_WINDOW)) {
        direct.expired(ok.current().identity());
        direct.trustRejected(new dev.kubemtls.core.InvalidMaterialException("the new bundle does not hold the"
            + " issuer of the current certificate"));
      }
      assertThat(awaitEvents(fx, ns, PodEvents.EXPIRED, 1).get(0).getMessage())
          .contains("expired at " + ok.current().identity().notAfter());
      assertThat(awaitEvents(fx, ns, PodEvents.TRUST_HELD_BACK, 1).get(0).getMessage())
          .contains("the new bundle does not hold the issuer");
    }

    // A name the approver refuses: every attempt is denied, retried after 1 s. Many denials, one Event.
    AtomicInteger denials = new AtomicInteger();
    try (KubeMtls denied = KubeMtls.forWorkload(web.client())
        .identity(identity(web).extraDnsNames("web.elsewhere.svc").build())
        .signerName(SignerFixture.SIGNER_NAME).podUid(uid)
        .rotationPolicy(RotationPolicy.builder().denialBackoff(Duration.ofSeconds(1)).backoff(Duration.ofSeconds(1),
            Duration.ofSeconds(1)).build())
        .listener(new ManagerListener() {
          @Override
          public void denied(CertificateDeniedException denial, int attempt, Instant nextAttempt) {
            denials.incrementAndGet();
          }
        }).start()) {
      Awaitility.await("three denials").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
          .until(() -> denials.get() >= 3);
      Event event = awaitEvents(fx, ns, PodEvents.DENIED, 1).get(0);
      assertThat(event.getType()).isEqualTo("Warning");
      assertThat(event.getMessage()).contains(ApprovalDecision.UNAUTHORIZED_DNS_NAME);
      assertThat(event.getInvolvedObject().getUid()).isEqualTo(uid);
      System.out.println("denials seen by the listener: " + denials.get() + "; CertificateDenied Events: "
          + events(fx, ns, PodEvents.DENIED).size());
    }
    assertThat(events(fx, ns, PodEvents.DENIED)).hasSize(1);
    assertThat(denials.get()).isGreaterThanOrEqualTo(3);
  }

  @Test
  void aWorkloadWithoutThePermissionWorksAndRecordsNothing() throws Exception {
    SignerFixture fx = SignerFixture.get();
    SignerFixture.Workload web = fx.workload("pod-events-none-it");
    // The workload's client, with the answers to its Event writes noted.
    java.util.Queue<Integer> eventAnswers = new java.util.concurrent.ConcurrentLinkedQueue<>();
    String events = "/api/v1/namespaces/" + web.namespace() + "/events";
    try (io.fabric8.kubernetes.client.KubernetesClient client = RecordingClient.of(web.client(),
        RecordingClient.Recorder.answers((request, status) -> {
          if ("POST".equals(request.method()) && events.equals(request.path())) {
            eventAnswers.add(status);
          }
        }));
        KubeMtls mtls = KubeMtls.forWorkload(client).identity(identity(web).build())
            .signerName(SignerFixture.SIGNER_NAME).podUid(web.pod().getMetadata().getUid()).start()) {
      mtls.awaitReady(Duration.ofSeconds(60));
      // The issuance's Event was refused, and nothing was written.
      Awaitility.await("the refused Event").atMost(Duration.ofSeconds(30)).until(() -> eventAnswers.contains(403));
      assertThat(eventAnswers).containsOnly(403);
      assertThat(fx.admin.v1().events().inNamespace(web.namespace()).list().getItems())
          .noneMatch(e -> e.getSource() != null && PodEvents.COMPONENT.equals(e.getSource().getComponent()));
      assertThat(mtls.current()).isNotNull();
    }
  }

  @Test
  void repeatsWithinTheWindowAreCountedIntoTheNextEventAndA403StopsTheRecording() {
    SignerFixture fx = SignerFixture.get();
    SignerFixture.Workload web = fx.workload("pod-events-window-it");
    String ns = web.namespace();
    bindEvents(fx, ns, "web");
    MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
    try (PodEvents events = new PodEvents(web.client(), ns, "web-0", web.pod().getMetadata().getUid(), clock,
        Duration.ofMinutes(10))) {
      Exception error = new IllegalStateException("the API server could not be reached");
      events.renewalFailed(error, 1, clock.instant().plusSeconds(2));
      clock.advance(Duration.ofMinutes(1));
      events.renewalFailed(error, 2, clock.instant().plusSeconds(4));
      clock.advance(Duration.ofMinutes(1));
      events.renewalFailed(error, 3, clock.instant().plusSeconds(8));
      clock.advance(Duration.ofMinutes(9));
      events.renewalFailed(error, 4, clock.instant().plusSeconds(16));
      List<Event> written = awaitEvents(fx, ns, PodEvents.RENEWAL_FAILED, 2);
      assertThat(written).extracting(Event::getMessage).containsExactlyInAnyOrder(
          "attempt 1 failed: the API server could not be reached; next attempt at 2026-01-01T00:00:02Z",
          "attempt 4 failed: the API server could not be reached; next attempt at 2026-01-01T00:11:16Z"
              + " (and 2 more like it in the 10 min before)");
      assertThat(written).allSatisfy(e -> assertThat(e.getType()).isEqualTo("Warning"));
    }

    // The same workload in a namespace where it may not create events.
    SignerFixture.Workload other = fx.workload("pod-events-403-it");
    try (PodEvents events = new PodEvents(other.client(), other.namespace(), "web-0", null, clock,
        Duration.ofMinutes(10))) {
      events.renewalFailed(new IllegalStateException("x"), 1, clock.instant());
      Awaitility.await("the 403").atMost(Duration.ofSeconds(20)).until(events::isForbidden);
    }
    // (The API server records Events of its own there, such as the Service's ClusterIPAllocation.)
    assertThat(fx.admin.v1().events().inNamespace(other.namespace()).list().getItems())
        .noneMatch(e -> PodEvents.COMPONENT.equals(e.getReportingComponent())
            || e.getSource() != null && PodEvents.COMPONENT.equals(e.getSource().getComponent()));

    // Recorders started later through the same client for the same namespace, within the window, do
    // not ask again (a workload started again and again would pay a refused request each time); once
    // the window has passed, one does. Counted on a client of their own.
    java.util.Queue<String> sent = new java.util.concurrent.ConcurrentLinkedQueue<>();
    String post = "POST /api/v1/namespaces/" + other.namespace() + "/events";
    try (io.fabric8.kubernetes.client.KubernetesClient counted = RecordingClient.of(other.client(),
        r -> sent.add(r.method() + " " + r.path()))) {
      try (PodEvents first = new PodEvents(counted, other.namespace(), "web-0", null, clock, Duration.ofMinutes(10))) {
        first.renewalFailed(new IllegalStateException("y"), 2, clock.instant());
        Awaitility.await("this client's 403").atMost(Duration.ofSeconds(20)).until(first::isForbidden);
      }
      assertThat(sent).containsExactly(post);
      clock.advance(Duration.ofMinutes(9));
      try (PodEvents later = new PodEvents(counted, other.namespace(), "web-0", null, clock, Duration.ofMinutes(10))) {
        later.renewalFailed(new IllegalStateException("z"), 3, clock.instant());
        assertThat(later.isForbidden()).as("known at once").isTrue();
      }
      assertThat(sent).as("no second request within the window").containsExactly(post);
      clock.advance(Duration.ofMinutes(2));
      try (PodEvents afterWindow = new PodEvents(counted, other.namespace(), "web-0", null, clock,
          Duration.ofMinutes(10))) {
        afterWindow.renewalFailed(new IllegalStateException("w"), 4, clock.instant());
        Awaitility.await("refused again").atMost(Duration.ofSeconds(20)).until(afterWindow::isForbidden);
      }
      assertThat(sent).as("asked again after the window").containsExactly(post, post);
    }
  }

  private static WorkloadIdentity.Builder identity(SignerFixture.Workload web) {
    return WorkloadIdentity.builder(web.namespace(), "web").podName("web-0").podIp(web.podIp()).services("web");
  }

  private static void bindEvents(SignerFixture fx, String ns, String sa) {
    fx.admin.rbac().roleBindings().inNamespace(ns).resource(new RoleBindingBuilder().withNewMetadata()
        .withName("kube-mtls-workload-events").endMetadata()
        .withNewRoleRef().withApiGroup("rbac.authorization.k8s.io").withKind("ClusterRole")
        .withName("kube-mtls-workload-events").endRoleRef()
        .addNewSubject().withKind("ServiceAccount").withName(sa).withNamespace(ns).endSubject().build()).create();
  }

  private static List<Event> events(SignerFixture fx, String ns, String reason) {
    return fx.admin.v1().events().inNamespace(ns).withField("involvedObject.name", "web-0").list().getItems()
        .stream().filter(e -> reason.equals(e.getReason())).toList();
  }

  private static List<Event> awaitEvents(SignerFixture fx, String ns, String reason, int count) {
    return Awaitility.await(count + " " + reason + " Event(s) on web-0").atMost(Duration.ofSeconds(30))
        .pollInterval(Duration.ofMillis(100)).until(() -> events(fx, ns, reason), l -> l.size() >= count);
  }
}
