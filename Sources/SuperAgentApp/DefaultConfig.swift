/// The configuration `super-agent` uses when no file is given: the 11-agent organisation from the
/// seed blog post. `super-agent mcp --print-config` prints the effective configuration, a good
/// starting point for your own file.
enum DefaultConfig {
    static let json = """
        {
          "org": {
            "max_hops": 3,
            "agents": [
              {"id": "ceo", "max_concurrent": 2},
              {"id": "cto", "reports_to": "ceo", "max_concurrent": 3},
              {"id": "cfo", "reports_to": "ceo", "max_concurrent": 2},
              {"id": "cso", "reports_to": "ceo", "max_concurrent": 2},
              {"id": "marketing", "reports_to": "ceo", "max_concurrent": 3},
              {"id": "investment", "reports_to": "ceo", "max_concurrent": 2},
              {"id": "org-agent", "reports_to": "ceo", "max_concurrent": 2},
              {"id": "architect", "reports_to": "cto", "max_concurrent": 3},
              {"id": "devops", "reports_to": "cto", "max_concurrent": 3},
              {"id": "fullstack", "reports_to": "cto", "max_concurrent": 3},
              {"id": "zidevops-director", "reports_to": "devops", "max_concurrent": 3}
            ]
          },
          "capacity": {"ttl_s": 600},
          "mcp": {"max_line_bytes": 8388608, "stdin_spin_us": 50},
          "log_level": "info"
        }
        """
}
