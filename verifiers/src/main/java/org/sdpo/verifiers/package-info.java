/** Environments that grade attempts and explain failures in text (in progress). */
package org.sdpo.verifiers;
