//! The programs a shell command string runs (`sh -c "nginx -g 'daemon off;'"`):
//! the first word of each simple command, after assignments, redirections
//! and the wrappers that run their argument (`exec`, `env`, `nohup`, …),
//! with quotes removed as POSIX sh does. Builtins and reserved words run no
//! program; a command word built from an expansion (`$APP`) cannot be known
//! statically and is reported as such.

/// What a command string runs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Programs {
    /// Command words naming programs, in order, without repeats.
    pub programs: Vec<String>,
    /// Command words slim cannot resolve statically (`$APP`, `` `cmd` ``).
    pub dynamic: Vec<String>,
}

/// Reserved words of sh(1); `for`/`case` introduce words that are not commands.
const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "in", "case",
    "esac", "!", "{", "}",
];

/// Builtins of dash and bash that need no program file.
const BUILTINS: &[&str] = &[
    ":", ".", "[", "alias", "bg", "break", "cd", "continue", "echo", "eval", "exit", "export",
    "false", "fg", "getopts", "hash", "jobs", "kill", "local", "printf", "pwd", "read", "readonly",
    "return", "set", "shift", "source", "test", "times", "trap", "true", "type", "ulimit", "umask",
    "unalias", "unset", "wait",
];

/// Words that run the command given after them (and their options).
const WRAPPERS: &[&str] = &["exec", "command", "nohup", "env", "time", "nice", "setsid"];

#[derive(Debug, PartialEq)]
enum Tok {
    /// A word with quotes removed; `true` when it holds an unquoted or
    /// double-quoted expansion (`$`, backquote).
    Word(String, bool),
    /// `;`, `&`, `|`, `&&`, `||`, `(`, `)`, newline.
    Sep,
    /// `<`, `>`, `>>`, `>&`, `<&`, `<<`, with an optional fd number; `true`
    /// when the next word is its target (not for `>&2`).
    Redir(bool),
}

fn tokens(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    let mut word = String::new();
    let (mut in_word, mut dynamic) = (false, false);
    let flush = |out: &mut Vec<Tok>, word: &mut String, in_word: &mut bool, dynamic: &mut bool| {
        if *in_word {
            out.push(Tok::Word(std::mem::take(word), *dynamic));
        }
        *in_word = false;
        *dynamic = false;
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        '$' | '`' => {
                            dynamic = true;
                            word.push(c);
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(n) => word.push(n),
                }
            }
            '#' if !in_word => {
                // A comment to the end of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push(Tok::Sep);
                        break;
                    }
                }
            }
            ' ' | '\t' => flush(&mut out, &mut word, &mut in_word, &mut dynamic),
            ';' | '&' | '|' | '(' | ')' | '\n' => {
                flush(&mut out, &mut word, &mut in_word, &mut dynamic);
                if matches!(c, '&' | '|') && chars.peek() == Some(&c) {
                    chars.next();
                }
                out.push(Tok::Sep);
            }
            '<' | '>' => {
                // `2>` : the digits before are the fd, not a word.
                if in_word && word.chars().all(|d| d.is_ascii_digit()) && !dynamic {
                    word.clear();
                    in_word = false;
                } else {
                    flush(&mut out, &mut word, &mut in_word, &mut dynamic);
                }
                let mut dup = false;
                while chars
                    .peek()
                    .is_some_and(|n| matches!(n, '<' | '>' | '&' | '|' | '-'))
                {
                    dup |= chars.next() == Some('&');
                }
                // `>&2`: the target is part of the operator here.
                let mut fd = false;
                while chars.peek().is_some_and(|n| n.is_ascii_digit()) {
                    chars.next();
                    fd = true;
                }
                out.push(Tok::Redir(!(dup && fd)));
            }
            '$' | '`' => {
                in_word = true;
                dynamic = true;
                word.push(c);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush(&mut out, &mut word, &mut in_word, &mut dynamic);
    out
}

/// The programs `script` runs, in the order they appear.
pub fn programs(script: &str) -> Programs {
    let mut out = Programs::default();
    let toks = tokens(script);
    let mut i = 0;
    while i < toks.len() {
        // One simple command: its words up to the next separator, without redirections.
        let mut words: Vec<(&str, bool)> = Vec::new();
        while i < toks.len() && toks[i] != Tok::Sep {
            match &toks[i] {
                Tok::Redir(true) => i += 1, // and its target word, below
                Tok::Redir(false) => {}
                Tok::Word(w, d) => words.push((w, *d)),
                Tok::Sep => {}
            }
            i += 1;
        }
        i += 1;
        command_word(&words, &mut out);
    }
    out
}

/// The words of `script` when it is one plain command, so that an exec form
/// (`["node", "server.js"]`) runs the same without a shell: no separators,
/// redirections, expansions or assignments; a leading `exec` and a trailing
/// `|| exit 1` (a failing check fails either way) are dropped.
pub fn simple_command(script: &str) -> Option<Vec<String>> {
    let mut s = script.trim();
    if let Some((head, tail)) = s.rsplit_once("||") {
        let tail = tail.trim();
        let failing = tail == "false"
            || tail
                .strip_prefix("exit")
                .is_some_and(|n| n.trim().parse::<u8>().is_ok_and(|n| n != 0));
        if failing {
            s = head.trim();
        }
    }
    let mut words = Vec::new();
    for t in tokens(s) {
        match t {
            Tok::Word(w, false) => words.push(w),
            _ => return None,
        }
    }
    if words.first().is_some_and(|w| w == "exec") {
        words.remove(0);
    }
    let first = words.first()?;
    let assignment = first
        .split_once('=')
        .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_'));
    if assignment || RESERVED.contains(&first.as_str()) || BUILTINS.contains(&first.as_str()) {
        return None;
    }
    Some(words)
}

fn command_word(words: &[(&str, bool)], out: &mut Programs) {
    let mut k = 0;
    while k < words.len() {
        let (w, dynamic) = words[k];
        let assignment = w.split_once('=').is_some_and(|(n, _)| {
            !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
        if assignment || RESERVED.contains(&w) && !matches!(w, "for" | "case") {
            k += 1;
            continue;
        }
        if matches!(w, "for" | "case") {
            return;
        }
        if WRAPPERS.contains(&w) {
            k += 1;
            // Their options: `env -i`, `nice -n 10`, `exec -a NAME`.
            while k < words.len() && words[k].0.starts_with('-') {
                let takes_arg = matches!((w, words[k].0), ("nice", "-n") | ("exec", "-a"));
                k += if takes_arg { 2 } else { 1 };
            }
            continue;
        }
        if BUILTINS.contains(&w) {
            return;
        }
        let list = if dynamic {
            &mut out.dynamic
        } else {
            &mut out.programs
        };
        if !list.iter().any(|p| p == w) {
            list.push(w.to_string());
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progs(s: &str) -> Vec<String> {
        programs(s).programs
    }

    #[test]
    fn first_words_of_simple_commands() {
        assert_eq!(progs("nginx -g 'daemon off;'"), ["nginx"]);
        assert_eq!(
            progs("cd /app && FOO=1 exec /usr/bin/python3 main.py 2>&1 | tee /tmp/log"),
            ["/usr/bin/python3", "tee"]
        );
        assert_eq!(
            progs("env -i PATH=/bin nice -n 5 myapp --x; true"),
            ["myapp"]
        );
        assert_eq!(
            progs("if [ -f /x ]; then exec app; else exec other; fi"),
            ["app", "other"]
        );
        assert_eq!(progs("for f in a b; do worker \"$f\"; done"), ["worker"]);
        assert_eq!(
            progs("echo hi > /dev/null; \"/opt/my app/run\" # comment\nnext"),
            ["/opt/my app/run", "next"]
        );
        assert_eq!(progs(">/tmp/x prog <in"), ["prog"]);
        assert_eq!(progs("a & b || c && a"), ["a", "b", "c"]);
    }

    #[test]
    fn plain_commands_have_an_exec_form() {
        let words = |s: &str| simple_command(s);
        assert_eq!(
            words("node server.js --port 3000").unwrap(),
            ["node", "server.js", "--port", "3000"]
        );
        assert_eq!(
            words("curl -f 'http://localhost/' || exit 1").unwrap(),
            ["curl", "-f", "http://localhost/"]
        );
        assert_eq!(
            words("exec gunicorn app:app").unwrap(),
            ["gunicorn", "app:app"]
        );
        assert_eq!(words("cmd || exit 0"), None, "exit 0 changes the outcome");
        for s in [
            "a && b",
            "node x > /tmp/log",
            "node $APP",
            "PORT=1 node x",
            "cd /app",
            "",
        ] {
            assert_eq!(words(s), None, "{s}");
        }
    }

    #[test]
    fn expansions_in_command_position_are_dynamic() {
        let p = programs("exec $APP --port \"$PORT\"; `which x`");
        assert!(p.programs.is_empty(), "{p:?}");
        assert_eq!(p.dynamic, ["$APP", "`which"]);
        // An expansion in an argument does not matter.
        assert_eq!(progs("server --port $PORT"), ["server"]);
    }
}
