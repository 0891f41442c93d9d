"""Installing while another nginx site is broken: the install completes and says why."""


def test_install_completes_while_another_site_breaks_nginx(machine):
    machine.install("nginx")
    assert machine.http("GET", "http://localhost/").status == 200
    machine.run("echo 'this is not nginx;' > /etc/nginx/sites-enabled/broken")

    done = machine.install("subsite")
    assert "fails its test" in done.stderr + done.stdout
    assert "/etc/nginx/sites-enabled/broken" in done.stderr + done.stdout
    assert machine.run("dpkg-query -W -f '${db:Status-Status}' subsite").stdout == "installed"
    # nginx keeps running on its old configuration: the default site answers.
    assert machine.http("GET", "http://localhost/").status == 200

    # Once the other site is fixed, a reload brings subsite in.
    machine.run("rm /etc/nginx/sites-enabled/broken && nginx -t && service nginx reload")
    answer = machine.wait_http("http://localhost/subsite/_health")
    assert answer.status == 200 and answer.json()["script_root"] == "/subsite"
