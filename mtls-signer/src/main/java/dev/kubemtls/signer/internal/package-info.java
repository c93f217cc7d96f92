/**
 * Implementation of the signer: CSR parsing, the work queue, the CSR controller and the API
 * lookups of the approver. Not an API: may change in any release.
 */
package dev.kubemtls.signer.internal;
