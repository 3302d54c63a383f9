#ifndef NN_CPU_HINT_H
#define NN_CPU_HINT_H
/// Tells the core this thread is spin-waiting (x86 PAUSE, ARM YIELD), so a hyper-thread sibling
/// running real work keeps its execution resources while the engine's workers wait for the next kernel.
void nn_cpu_relax(void);
#endif
