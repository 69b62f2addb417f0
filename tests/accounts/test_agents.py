from hameau.accounts.agents import describe


def test_common_browsers_get_a_short_name() -> None:
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    chrome_android = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
    safari_iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0"
    assert describe(firefox) == "Firefox · Linux"
    assert describe(chrome_android) == "Chrome · Android"
    assert describe(safari_iphone) == "Safari · iOS"
    assert describe(edge) == "Edge · Windows"
    assert describe("curl/8.5.0") == "curl/8.5.0"
