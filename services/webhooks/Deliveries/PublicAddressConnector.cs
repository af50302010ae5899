using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using ScheduledPosts.Webhooks.Endpoints;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// The webhook client's connect step: resolves the host itself and connects only to public addresses, so a
/// name that (re)resolves to a private, loopback or link-local address is refused at send time (DNS rebinding).
/// </summary>
public sealed class PublicAddressConnector(IOptions<WebhookOptions> options)
{
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        string host = context.DnsEndPoint.Host.Trim('[', ']');
        IPAddress[] addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        if (!options.Value.AllowLoopback)
        {
            addresses = [.. addresses.Where(EndpointRules.IsPublic)];
        }

        if (addresses.Length == 0)
        {
            throw new HttpRequestException($"{host} has no public address; webhooks are not sent to private networks.");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
