use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::{Input, Vtl};

fn run(template: &str, body: &str) -> Result<String, String> {
    let input = Input {
        body,
        params: json!({"path": {"id": "7"}, "querystring": {"q": "a b"}, "header": {"X-Test": "t"}}),
    };
    let mut vars = HashMap::new();
    vars.insert(
        "context".into(),
        json!({"requestId": "r-1", "stage": "prod", "httpMethod": "GET", "identity": {"sourceIp": "1.2.3.4"}}),
    );
    vars.insert("stageVariables".into(), json!({"table": "Users"}));
    Vtl::new(&input, vars).render(template)
}

fn ok(template: &str, body: &str) -> String {
    run(template, body).unwrap_or_else(|e| panic!("{template}: {e}"))
}

#[test]
fn input_and_variables() {
    let body =
        r#"{"name": "Ann", "tags": ["a", "b"], "n": 3, "f": 2.5, "nested": {"x": {"y": true}}}"#;
    assert_eq!(ok("$input.body", body), body);
    assert_eq!(ok("$input.json('$.name')", body), "\"Ann\"");
    assert_eq!(ok("$input.json('$')", "{\"a\":1}"), "{\"a\":1}");
    assert_eq!(ok("$input.path('$.name')", body), "Ann");
    assert_eq!(ok("$input.path('$.tags').size()", body), "2");
    assert_eq!(ok("$input.path('$.tags')[1]", body), "b");
    assert_eq!(ok("$input.path('$.tags[0]')", body), "a");
    assert_eq!(ok("$input.path('$.nested.x.y')", body), "true");
    assert_eq!(ok("$input.path('$.missing')", body), "");
    assert_eq!(ok("$input.path('$.f')", body), "2.5");
    assert_eq!(
        ok(
            "$input.params('id') $input.params('q') $input.params('x-test')",
            ""
        ),
        "7 a b t"
    );
    assert_eq!(ok("$input.params().header.get('X-Test')", ""), "t");
    assert_eq!(ok("$input.params().path.id", ""), "7");
    assert_eq!(
        ok(
            "$context.requestId/$context.identity.sourceIp/$stageVariables.table",
            ""
        ),
        "r-1/1.2.3.4/Users"
    );
    assert_eq!(ok("$nope $!nope ${nope} x", ""), "$nope  ${nope} x");
    assert_eq!(ok("price: \\$5 and $ 6", ""), "price: $5 and $ 6");
    assert!(run("$input.path('$.a')", "not json").is_err());
}

#[test]
fn directives() {
    assert_eq!(ok("#set($a = 1)$a", ""), "1");
    assert_eq!(ok("#set($a = \"x$context.stage\")$a", ""), "xprod");
    assert_eq!(ok("#set($a = 'x$context.stage')$a", ""), "x$context.stage");
    assert_eq!(
        ok(
            "#if($context.stage == 'prod')P#elseif($context.stage == 'dev')D#{else}O#end",
            ""
        ),
        "P"
    );
    assert_eq!(ok("#if(1 > 2 || !false && 3 >= 3)y#{else}n#end", ""), "y");
    assert_eq!(ok("#if($nothing)y#{else}n#end", ""), "n");
    assert_eq!(ok("#if(!$nothing)y#end", ""), "y");
    assert_eq!(
        ok(
            "#foreach($t in $input.path('$.tags'))$t#if($foreach.hasNext),#end#end",
            r#"{"tags":["a","b","c"]}"#
        ),
        "a,b,c"
    );
    assert_eq!(
        ok("#foreach($i in [1..3])$velocityCount:$i #end", ""),
        "1:1 2:2 3:3 "
    );
    assert_eq!(ok("#foreach($i in [3..1])$i#end", ""), "321");
    assert_eq!(
        ok("#foreach($i in [1,2,3])#if($i == 2)#break#end$i#end", ""),
        "1"
    );
    // Directives alone on their lines leave no blank lines.
    let t =
        "{\n  #set($x = 'v')\n  \"a\": \"$x\"\n  ## a comment\n  #if(true)\n  \"b\": 1\n  #end\n}";
    assert_eq!(ok(t, ""), "{\n  \"a\": \"v\"\n  \"b\": 1\n}");
    assert_eq!(ok("a #* block\ncomment *#b", ""), "a b");
    assert_eq!(
        ok("#set($m = {\"k\": 1, \"j\": [1, 'x']})$m $m.k $m.j", ""),
        "{j=[1, x], k=1} 1 [1, x]"
    );
    assert_eq!(
        ok(
            "#set($l = [])#set($d = $l.add('a'))#set($d = $l.add('b'))$l.size() $l",
            ""
        ),
        "2 [a, b]"
    );
    assert_eq!(
        ok("#set($m = {})#set($m.a = 1)$m.put('b', 2)$m", ""),
        "{a=1, b=2}"
    );
    assert_eq!(
        ok("#set($n = 7)#set($n = $n + 3 * 2)$n ${n}px", ""),
        "13 13px"
    );
    assert_eq!(
        ok(
            "#set($x = 7 / 2)$x #set($y = 7.0 / 2)$y #set($z = 1 / 0)[$z]",
            ""
        ),
        "3 3.5 []"
    );
    assert!(run("#if(true)x", "").is_err());
    assert!(run("#end", "").is_err());
    assert_eq!(ok("#ending #setting", ""), "#ending #setting");
}

#[test]
fn util_and_methods() {
    assert_eq!(
        ok("$util.escapeJavaScript(\"a\"\"b'c\\d\")", ""),
        "a\\\"b\\'c\\\\d"
    );
    assert_eq!(ok("$util.urlEncode('a b&c')", ""), "a+b%26c");
    assert_eq!(ok("$util.urlDecode('a+b%26c')", ""), "a b&c");
    assert_eq!(ok("$util.base64Encode('hi')", ""), "aGk=");
    assert_eq!(ok("$util.base64Decode('aGk=')", ""), "hi");
    assert_eq!(ok("$util.parseJson('{\"a\": [1]}').a[0]", ""), "1");
    assert_eq!(ok("#set($s = 'Hello World')$s.toUpperCase() $s.length() $s.substring(0, 5) $s.indexOf('o') $s.replace('l', 'L') $s.contains('World') $s.split(' ')[1]", ""),
        "HELLO WORLD 11 Hello 4 HeLLo WorLd true World");
    assert_eq!(ok("#set($s = 'a1b22')$s.replaceAll('[0-9]+', '#') $s.matches('[a-z0-9]+') $s.replaceAll('([a-z])', '<$1>')", ""), "a#b# true <a>1<b>22");
    assert_eq!(
        ok(
            "#set($m = {'a': 1})$m.keySet() $m.containsKey('a') $m.size() $m.isEmpty()",
            ""
        ),
        "[a] true 1 false"
    );
    assert!(run("$util.nope('x')", "").is_err());
    assert!(run("#set($s = 'x')$s.substring(5)", "").is_err());
}

/// Random templates built from VTL's own characters and keywords never panic and
/// always finish.
#[test]
fn random_templates_never_panic() {
    let pieces = [
        "#set(",
        "#if(",
        "#elseif(",
        "#else",
        "#end",
        "#foreach(",
        " in ",
        "#break",
        "#stop",
        "$",
        "$!",
        "${",
        "}",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "'",
        "\"",
        ",",
        ".",
        "..",
        "=",
        "==",
        "!=",
        "<",
        ">",
        "&&",
        "||",
        "!",
        "+",
        "-",
        "*",
        "/",
        "%",
        "1",
        "0",
        "-1",
        "2.5",
        "true",
        "null",
        "a",
        "b",
        "$input",
        "$input.path('$.a')",
        "$input.json('$')",
        "$input.params()",
        "$util.",
        "escapeJavaScript",
        "parseJson",
        "$context",
        ".size()",
        ".get(0)",
        ".add(1)",
        "$foreach.hasNext",
        "##",
        "#*",
        "*#",
        "\n",
        " ",
        "\\",
        "x",
        "[1..9999999]",
        "$l",
        "$m",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..20_000 {
        let n = rng.random_range(1..24);
        let t: String = (0..n)
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        let _ = run(&t, r#"{"a": [1, {"b": 2}]}"#);
    }
    // Raw random characters too.
    for _ in 0..5_000 {
        let n = rng.random_range(0..64);
        let t: String = (0..n)
            .map(|_| char::from(rng.random_range(0x20u8..0x7f)))
            .collect();
        let _ = run(&t, "");
    }
    // Deep nesting is refused, not a stack overflow.
    assert!(run(&"#if(true)".repeat(10_000), "").is_err());
    assert!(run(
        &format!("#set($a = {}1{})", "(".repeat(10_000), ")".repeat(10_000)),
        ""
    )
    .is_err());
    assert!(run(&"\"".repeat(10_001), "").is_ok());
    // Loops are bounded.
    assert!(run(
        "#foreach($i in [1..99999])#foreach($j in [1..99999])x#end#end",
        ""
    )
    .is_err());
    // Values that double are bounded too.
    assert!(run(
        "#set($s = 'xxxxxxxx')#foreach($i in [1..64])#set($s = \"$s$s\")#end",
        ""
    )
    .is_err());
    assert!(run(
        "#set($l = [1])#foreach($i in [1..64])#set($d = $l.add($l))#end",
        ""
    )
    .is_err());
    assert!(run(
        "#set($s = 'xxxxxxxx')#foreach($i in [1..64])#set($s = $s.concat($s))#end",
        ""
    )
    .is_err());
    // Deeply nested values are bounded before they can overflow the stack.
    assert!(run(
        "#set($a = [])#foreach($i in [1..99999])#set($a = [$a])#end$a",
        ""
    )
    .is_err());
    assert!(run(
        "#set($a = {})#foreach($i in [1..99999])#set($a = {'k': $a})#end$a",
        ""
    )
    .is_err());
    let big = format!("{{\"a\": [{}]}}", vec!["{\"b\": 1}"; 20000].join(","));
    assert!(run("#foreach($i in [1..99999])$input.path('$..zz')#end", &big).is_err());
    let v: Value = json!(null);
    assert_eq!(super::render(&v), "");
}
