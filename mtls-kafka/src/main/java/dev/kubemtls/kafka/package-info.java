/**
 * Kafka clients and brokers on kube-mtls material that renews without a restart.
 *
 * <p>The model: a {@link dev.kubemtls.core.MaterialSource} holds one immutable snapshot of key,
 * certificate chain and trusted CAs at a time. The application registers it under a name with
 * {@link dev.kubemtls.kafka.KafkaMtls}; Kafka's configuration names
 * {@link dev.kubemtls.kafka.MtlsSslEngineFactory} as {@code ssl.engine.factory.class} and the
 * registration in {@code kube.mtls.source}. Each new connection of a producer, consumer, admin
 * client or broker listener then takes the snapshot that is current when it opens; open
 * connections keep theirs until they close. On a broker,
 * {@link dev.kubemtls.kafka.SpiffePrincipalBuilder} turns each client's SPIFFE ID into the
 * principal {@code User:spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>} that ACLs name.
 */
package dev.kubemtls.kafka;
