//! Task sizes for re-running after an out-of-memory kill.

use serde::Serialize;

/// A task-level size, in CPU units and MiB, as RunTask overrides take them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TaskSize {
    /// CPU units (1024 = one vCPU).
    pub cpu: u32,
    /// Memory in MiB.
    pub memory: u32,
}

/// The memory values Fargate accepts for each CPU size (MiB).
fn fargate_memories(cpu: u32) -> Vec<u32> {
    let range = |from: u32, to: u32, step: u32| (from..=to).step_by(step as usize).collect();
    match cpu {
        256 => vec![512, 1024, 2048],
        512 => range(1024, 4096, 1024),
        1024 => range(2048, 8192, 1024),
        2048 => range(4096, 16384, 1024),
        4096 => range(8192, 30720, 1024),
        8192 => range(16384, 61440, 4096),
        16384 => range(32768, 122880, 8192),
        _ => vec![],
    }
}

const FARGATE_CPUS: [u32; 7] = [256, 512, 1024, 2048, 4096, 8192, 16384];

/// The size for the next attempt after an OOM kill: about twice the memory, never above
/// `ceiling` MiB. On Fargate it is a valid cpu/memory pair, at the same CPU when that CPU
/// allows it, else at the smallest larger CPU that does; elsewhere (EC2) only memory grows.
/// None when the task is already at the ceiling.
pub(crate) fn next_size(current: TaskSize, ceiling: u32, fargate: bool) -> Option<TaskSize> {
    let target = current.memory.saturating_mul(2);
    if !fargate {
        let memory = target.min(ceiling);
        return (memory > current.memory).then_some(TaskSize {
            cpu: current.cpu,
            memory,
        });
    }
    let candidates: Vec<TaskSize> = FARGATE_CPUS
        .into_iter()
        .filter(|cpu| *cpu >= current.cpu)
        .flat_map(|cpu| {
            fargate_memories(cpu)
                .into_iter()
                .map(move |memory| TaskSize { cpu, memory })
        })
        .filter(|s| s.memory > current.memory && s.memory <= ceiling)
        .collect();
    // The smallest memory that reaches the target, at the smallest CPU; else the largest there is.
    candidates
        .iter()
        .filter(|s| s.memory >= target)
        .min_by_key(|s| (s.memory, s.cpu))
        .or_else(|| {
            candidates
                .iter()
                .max_by_key(|s| (s.memory, std::cmp::Reverse(s.cpu)))
        })
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(cpu: u32, memory: u32) -> TaskSize {
        TaskSize { cpu, memory }
    }

    #[test]
    fn memory_doubles_at_the_same_cpu_when_it_can() {
        assert_eq!(
            next_size(size(1024, 2048), 30720, true),
            Some(size(1024, 4096))
        );
        assert_eq!(
            next_size(size(256, 512), 30720, true),
            Some(size(256, 1024))
        );
    }

    #[test]
    fn cpu_grows_when_its_memory_range_is_exhausted() {
        assert_eq!(
            next_size(size(256, 2048), 30720, true),
            Some(size(512, 4096))
        );
        assert_eq!(
            next_size(size(1024, 8192), 30720, true),
            Some(size(2048, 16384))
        );
    }

    #[test]
    fn the_ceiling_caps_growth_and_stops_it() {
        assert_eq!(
            next_size(size(2048, 16384), 20480, true),
            Some(size(4096, 20480))
        );
        assert_eq!(next_size(size(4096, 30720), 30720, true), None);
        assert_eq!(
            next_size(size(4096, 30720), 122880, true),
            Some(size(8192, 61440))
        );
    }

    #[test]
    fn ec2_tasks_grow_memory_only() {
        assert_eq!(
            next_size(size(1000, 3000), 30720, false),
            Some(size(1000, 6000))
        );
        assert_eq!(
            next_size(size(1000, 3000), 4000, false),
            Some(size(1000, 4000))
        );
        assert_eq!(next_size(size(1000, 4000), 4000, false), None);
    }
}
