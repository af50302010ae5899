using System.Net;
using System.Net.Sockets;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// The harness's start of a service when another process took its port after <see cref="Suite.FreePort"/> chose it:
/// told apart from any other failed start, so that <see cref="Suite"/> starts again on other ports.
/// </summary>
public sealed class ServiceStartTests
{
    [Fact]
    public async Task A_service_whose_port_another_process_holds_fails_its_start_as_port_taken_not_as_a_timeout()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var url = new Uri($"http://127.0.0.1:{((IPEndPoint)holder.LocalEndpoint).Port}");
        var sandbox = Deployment.Current["sandbox"];
        var environment = new Dictionary<string, string> { [Deployment.ListenerKey(sandbox.Listeners[0].Name)] = url.ToString() };
        await using var process = new ServiceProcess("sandbox", Suite.BuildOutput("sandbox"), environment, new Uri(url, sandbox.Health));

        var error = await Assert.ThrowsAsync<PortTakenException>(process.StartAsync);

        Assert.Contains("address already in use", error.Message, StringComparison.Ordinal);
    }
}
