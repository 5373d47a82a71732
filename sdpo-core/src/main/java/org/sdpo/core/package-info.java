/** Self-Distillation Policy Optimization: rollouts, self-teacher, distillation objective (in progress). */
package org.sdpo.core;
