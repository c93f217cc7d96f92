/**
 * kube-mtls core: the TLS material of one workload and how it changes over time, with no
 * Kubernetes dependency. See the {@code dev.kubemtls.core} package for the model.
 */
module dev.kubemtls.core {
  requires org.bouncycastle.provider;
  requires org.bouncycastle.pkix;
  requires org.bouncycastle.util;
  requires org.slf4j;

  exports dev.kubemtls.core;
  exports dev.kubemtls.core.files;
  exports dev.kubemtls.core.names;
  exports dev.kubemtls.core.peer;
  exports dev.kubemtls.core.pki;
  exports dev.kubemtls.core.rotation;
  exports dev.kubemtls.core.tls;
  // Not API: shared with kube-mtls' own integrations only.
  exports dev.kubemtls.core.internal to dev.kubemtls.netty, dev.kubemtls.servlet, dev.kubemtls.grpc,
      dev.kubemtls.kafka, dev.kubemtls.spring;
}
