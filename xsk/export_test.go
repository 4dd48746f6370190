package xsk

// KickSyscall is Kick through the runtime's Syscall, for BenchmarkKick.
func (s *Socket) KickSyscall() { s.kick(false) }
