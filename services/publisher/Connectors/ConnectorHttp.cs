using System.Net.Http.Json;
using System.Text.Json;

namespace ScheduledPosts.Publisher.Connectors;

/// <summary>HTTP pieces the connectors share.</summary>
public static class ConnectorHttp
{
    /// <summary>A platform's JSON answer (web naming), or null when its body is not the JSON expected or breaks off.</summary>
    public static async Task<T?> ReadJsonOrNullAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken) where T : class
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(JsonSerializerOptions.Web, cancellationToken);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or HttpRequestException or IOException)
        {
            return null;
        }
    }
}

/// <summary>A file of known size: sent with a Content-Length rather than chunked, as platforms' servers prefer.</summary>
public sealed class SizedStreamContent(Stream content, long size) : StreamContent(content)
{
    protected override bool TryComputeLength(out long length)
    {
        length = size;
        return true;
    }
}
