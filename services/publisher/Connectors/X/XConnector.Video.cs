using System.Globalization;
using System.Text.Json.Nodes;
using ScheduledPosts.ServiceDefaults.Outbound;
using static ScheduledPosts.Publisher.Connectors.ConnectorResult;

namespace ScheduledPosts.Publisher.Connectors.X;

/// <summary>A post's one video, through X's chunked media upload (README.md, "What one upload does").</summary>
public sealed partial class XConnector
{
    /// <summary>X's media category for a video in a post.</summary>
    public const string VideoCategory = "tweet_video";

    // The chunked upload takes MP4 (the only video type the media library accepts).
    private const string VideoType = "video/mp4";

    /// <summary>
    /// The chunked upload (https://docs.x.com/x-api/media/quickstart/media-upload-chunked): INIT with the size and
    /// <c>tweet_video</c>, an APPEND per chunk in order, FINALIZE; then, while FINALIZE's or STATUS's
    /// <c>processing_info</c> says pending or in progress, STATUS after <c>check_after_secs</c>, within
    /// <see cref="XOptions.MediaProcessingTimeout"/>.
    /// </summary>
    private async Task<(string? Id, Failed? Failure)> UploadVideoAsync(Account account, UploadMedia media, CancellationToken cancellationToken)
    {
        if (media.Length is not { } length)
        {
            // INIT declares total_bytes before any byte is sent; the scheduling service always knows a file's size.
            return (null, new Failed(ConnectorErrors.MediaUnavailable, $"The size of {media.FileName} is not known, and X's chunked upload declares it first. Nothing was posted.",
                Retryable: false));
        }

        string what = $"the video {media.FileName}";
        var (initialized, failure) = await CallAsync(account, () => Form(account, new Dictionary<string, string>
        {
            ["command"] = "INIT",
            ["media_type"] = VideoType,
            ["total_bytes"] = length.ToString(CultureInfo.InvariantCulture),
            ["media_category"] = VideoCategory,
        }), posting: false, what, cancellationToken);
        if (initialized?["data"]?["id"]?.GetValue<string>() is not { Length: > 0 } id)
        {
            return (null, failure ?? new Failed(ConnectorErrors.PlatformError, $"X answered the start of {what}'s upload without a media id.", Retryable: true));
        }

        Stream? file = null;
        try
        {
            long sent = 0;
            int chunk = Math.Max(options.Value.VideoChunkBytes, 1);
            for (int segment = 0; sent < length; segment++)
            {
                int index = segment;
                byte[]? bytes = null;
                var (_, appendFailure) = await CallAsync(account, async () =>
                {
                    file ??= await media.Open(cancellationToken);
                    bytes = new byte[(int)Math.Min(chunk, length - sent)];
                    if (await file.ReadAtLeastAsync(bytes, bytes.Length, throwOnEndOfStream: false, cancellationToken) < bytes.Length)
                    {
                        throw new MediaUnavailableException($"{media.FileName} ended before its {length} bytes.");
                    }

                    var form = new MultipartFormDataContent
                    {
                        { new StringContent("APPEND"), "command" },
                        { new StringContent(id), "media_id" },
                        { new StringContent(index.ToString(CultureInfo.InvariantCulture)), "segment_index" },
                        { new ByteArrayContent(bytes), "media", media.FileName },
                    };
                    return Bearer(new HttpRequestMessage(HttpMethod.Post, "2/media/upload") { Content = form }, account);
                }, posting: false, what, cancellationToken, answerRequired: false);
                if (appendFailure is not null)
                {
                    return (null, appendFailure);
                }

                sent += bytes!.Length;
            }
        }
        finally
        {
            if (file is not null)
            {
                await file.DisposeAsync();
            }
        }

        var (finalized, finalizeFailure) = await CallAsync(account, () => Form(account, new Dictionary<string, string>
        {
            ["command"] = "FINALIZE",
            ["media_id"] = id,
        }), posting: false, what, cancellationToken);
        if (finalized is null)
        {
            return (null, finalizeFailure);
        }

        return await WaitForVideoAsync(account, id, finalized["data"]?["processing_info"], what, cancellationToken);
    }

    /// <summary>Polls STATUS while the video is <c>pending</c> or <c>in_progress</c>; <c>failed</c> is X's refusal of the video.</summary>
    private async Task<(string? Id, Failed? Failure)> WaitForVideoAsync(Account account, string id, JsonNode? processing, string what, CancellationToken cancellationToken)
    {
        var giveUpAt = clock.GetUtcNow() + options.Value.MediaProcessingTimeout;
        while (true)
        {
            // No processing_info: the media is ready to attach.
            string? state = processing?["state"]?.GetValue<string>();
            switch (state)
            {
                case null or "succeeded":
                    return (id, null);
                case "failed":
                    string? reason = PlatformErrorText.Sanitise(processing?["error"]?["message"]?.GetValue<string>());
                    return (null, new Failed(ConnectorErrors.Rejected,
                        $"X could not process {what}{(reason is { Length: > 0 } ? $": {reason}" : "")}. Nothing was posted.", Retryable: false));
            }

            var wait = processing?["check_after_secs"] is JsonValue after && after.TryGetValue(out int seconds) && seconds > 0
                ? TimeSpan.FromSeconds(seconds)
                : options.Value.MediaPollInterval;
            if (clock.GetUtcNow() + wait > giveUpAt)
            {
                return (null, new Failed(ConnectorErrors.MediaNotReady,
                    $"X had not finished processing {what} within {options.Value.MediaProcessingTimeout.TotalSeconds:0.#} s. Nothing was posted.", Retryable: true));
            }

            await Task.Delay(wait, clock, cancellationToken);
            string query = $"2/media/upload?command=STATUS&media_id={Uri.EscapeDataString(id)}";
            var (status, failure) = await CallAsync(account, () => Task.FromResult(Bearer(new HttpRequestMessage(HttpMethod.Get, query), account)), posting: false,
                $"the processing of {what}", cancellationToken);
            if (status is null)
            {
                return (null, failure);
            }

            processing = status["data"]?["processing_info"];
        }
    }

    /// <summary>A chunked-upload command as <c>multipart/form-data</c> to <c>POST /2/media/upload</c>.</summary>
    private static Task<HttpRequestMessage> Form(Account account, Dictionary<string, string> fields)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, value) in fields)
        {
            form.Add(new StringContent(value), name);
        }

        return Task.FromResult(Bearer(new HttpRequestMessage(HttpMethod.Post, "2/media/upload") { Content = form }, account));
    }
}
