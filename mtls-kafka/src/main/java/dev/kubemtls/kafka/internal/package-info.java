/** Implementation details of the Kafka integration; not API. */
package dev.kubemtls.kafka.internal;
