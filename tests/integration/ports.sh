# ports.sh — free_base: a base port with the 13 ports after it free on
# 127.0.0.1, for a dev network of test or benchmark nodes.
free_base() {
	local base p used
	for _ in $(seq 1 50); do
		base=$((20000 + (RANDOM % 400) * 100))
		used=0
		for p in $(seq "$base" $((base + 12))); do
			if (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then used=1; break; fi
		done
		[ $used -eq 0 ] && { echo "$base"; return 0; }
	done
	return 1
}
