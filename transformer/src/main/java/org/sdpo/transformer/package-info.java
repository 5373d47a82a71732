/** A GPT-2-compatible decoder on the project's autograd (in progress). */
package org.sdpo.transformer;
